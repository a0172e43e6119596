"""What follows a join, over a fake unit of work: a paid order pays its seat (and completes the group with
the last one in the window), a cancelled order frees its seat, the window job fails what can no longer
complete, the backstop ends holds no order ever named, and the identity check flags one-person groups."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pingou.groupbuy.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import Unavailable
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from services.groupbuy.domain.model import (
    FailureReason,
    Group,
    GroupState,
    ReleaseReason,
    Seat,
    SeatState,
    seat_order_id,
)
from services.groupbuy.service_layer import lifecycle
from tests.unit.groupbuy.fakes import FakeDatabase, FakeLinks, FakeUnitOfWork

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
SKU = "sku-hanfu"
LEADER, SECOND, THIRD = "pu_1000001", "pu_1000002", "pu_1000003"
GRACE, FALLBACK = timedelta(seconds=30), timedelta(minutes=30)


def group(group_id: str = "g-1", *, size: int = 2, expires_at: datetime = NOW + timedelta(hours=1)) -> Group:
    return Group(
        group_id=group_id,
        sku_id=SKU,
        leader_user_id=LEADER,
        state=GroupState.OPEN,
        size=size,
        seats_taken=0,
        seats_paid=0,
        group_price_minor=1590,
        leader_price_minor=1590,
        per_user_limit=0,
        new_user_only=False,
        plus_only=False,
        strangers_can_join=True,
        auto_match=True,
        share_code="SHARE23456",
        opened_at=NOW - timedelta(hours=23),
        expires_at=expires_at,
        closed_at=None,
        flagged=False,
    )


def seat(
    user_id: str,
    *,
    group_id: str = "g-1",
    state: SeatState = SeatState.HELD,
    pay_by: datetime = NOW + timedelta(minutes=15),
    named: bool = True,
) -> Seat:
    seat_id = f"seat-{user_id}-{group_id}"
    return Seat(
        seat_id=seat_id,
        group_id=group_id,
        user_id=user_id,
        leader=user_id == LEADER,
        state=state,
        invite_code=f"INV{user_id[-4:]}",
        inviter_user_id=None,
        unit_price_minor=1590,
        shipping_city="菏泽",
        channel=1,
        order_id=seat_order_id(user_id, seat_id) if named else None,
        held_at=NOW - timedelta(minutes=1),
        pay_by=pay_by,
        paid_at=NOW - timedelta(minutes=1) if state is SeatState.PAID else None,
    )


def database_with(*seats: Seat, of: Group | None = None) -> FakeDatabase:
    """The group (a fresh open one by default) with these seats, and an allotment with one unit left."""
    database = FakeDatabase()
    database.add_group(of or group())
    for one in seats:
        database.add_seat(one)
    database.allotments[(SKU, 0)] = 1
    return database


async def pay(uow: FakeUnitOfWork, paid: Seat, *, paid_at: datetime = NOW, now: datetime = NOW) -> None:
    assert paid.order_id is not None
    async with uow:
        await lifecycle.pay_seat(
            uow, order_id=paid.order_id, group_id=paid.group_id, user_id=paid.user_id, paid_at=paid_at, now=now
        )


# --- payment


async def test_a_paid_order_pays_its_held_seat_and_says_how_many_are_paid() -> None:
    leader, second = seat(LEADER), seat(SECOND)
    uow = FakeUnitOfWork(database_with(leader, second, of=group(size=3)))
    await pay(uow, leader)

    assert uow.database.seats[leader.seat_id].seat.state is SeatState.PAID
    assert uow.database.groups["g-1"].state is GroupState.OPEN
    (paid,) = uow.published
    assert isinstance(paid, events.SeatPaid)
    assert (paid.seat_id, paid.order_id, paid.seats_paid) == (leader.seat_id, leader.order_id, 1)
    assert uow.repository.locked == ["g-1"]  # the group is locked before its seat


async def test_the_last_seat_paid_in_the_window_completes_the_group() -> None:
    leader, second = seat(LEADER, state=SeatState.PAID), seat(SECOND)
    uow = FakeUnitOfWork(database_with(leader, second))
    await pay(uow, second, now=NOW + timedelta(seconds=2))

    completed = uow.database.groups["g-1"]
    assert (completed.state, completed.seats_paid, completed.closed_at) == (
        GroupState.COMPLETED,
        2,
        NOW + timedelta(seconds=2),
    )
    assert uow.published_types() == ["SeatPaid", "GroupCompleted"]
    announced = uow.published[-1]
    assert isinstance(announced, events.GroupCompleted)
    assert (list(announced.order_ids), announced.reannounced) == ([leader.order_id, second.order_id], False)
    assert uow.database.user_sku_groups == {(LEADER, SKU): 0, (SECOND, SKU): 0}  # no longer counted as open


async def test_the_last_seat_paid_after_the_window_does_not_complete_the_group() -> None:
    ends = NOW + timedelta(minutes=5)
    leader, second = seat(LEADER, state=SeatState.PAID), seat(SECOND)
    uow = FakeUnitOfWork(database_with(leader, second, of=group(expires_at=ends)))
    await pay(uow, second, paid_at=ends)
    assert uow.database.groups["g-1"].state is GroupState.OPEN
    assert uow.published_types() == ["SeatPaid"]


async def test_a_payment_repeated_for_a_paid_seat_changes_nothing() -> None:
    leader = seat(LEADER, state=SeatState.PAID)
    uow = FakeUnitOfWork(database_with(leader, seat(SECOND), of=group(size=3)))
    await pay(uow, leader)
    assert uow.database.groups["g-1"].seats_paid == 1
    assert uow.published == []


async def test_a_payment_for_a_seat_of_a_failed_group_announces_the_failure_again_for_its_refund() -> None:
    late = seat(SECOND)
    database = database_with(seat(LEADER, state=SeatState.PAID), late)
    database.groups["g-1"] = replace(
        database.groups["g-1"], state=GroupState.FAILED, closed_at=NOW, failure_reason=FailureReason.WINDOW_ENDED
    )
    uow = FakeUnitOfWork(database)
    await pay(uow, late)

    assert database.seats[late.seat_id].seat.state is SeatState.HELD  # not counted
    (again,) = uow.published
    assert isinstance(again, events.GroupFailed)
    assert (list(again.paid_order_ids), again.reannounced) == ([late.order_id], True)


async def test_a_payment_for_a_released_seat_of_a_completed_group_announces_the_members_again() -> None:
    leader, second, released = seat(LEADER, state=SeatState.PAID), seat(SECOND, state=SeatState.PAID), seat(THIRD)
    database = database_with(leader, second, released, of=group(size=3))
    database.seats[released.seat_id].seat = replace(released, state=SeatState.RELEASED)
    database.groups["g-1"] = replace(
        database.groups["g-1"], size=2, seats_taken=2, state=GroupState.COMPLETED, closed_at=NOW
    )
    uow = FakeUnitOfWork(database)
    await pay(uow, released)

    (again,) = uow.published
    assert isinstance(again, events.GroupCompleted)
    assert (list(again.order_ids), again.reannounced) == ([leader.order_id, second.order_id], True)


async def test_a_payment_for_a_seat_released_while_the_group_is_open_is_left_to_the_refund() -> None:
    released = seat(SECOND)
    database = database_with(seat(LEADER), released, of=group(size=3))
    database.seats[released.seat_id].seat = replace(released, state=SeatState.RELEASED)
    uow = FakeUnitOfWork(database)
    await pay(uow, released)
    assert uow.published == []
    assert database.groups["g-1"].seats_paid == 0


# --- cancellation


async def test_a_cancelled_order_releases_its_seat_frees_it_and_gives_its_unit_back() -> None:
    second = seat(SECOND)
    uow = FakeUnitOfWork(database_with(seat(LEADER), second, of=group(size=3)))
    assert second.order_id is not None
    async with uow:
        await lifecycle.release_order_seat(uow, order_id=second.order_id, group_id="g-1", user_id=SECOND, now=NOW)

    assert uow.database.seats[second.seat_id].seat.state is SeatState.RELEASED
    assert uow.database.groups["g-1"].seats_taken == 1
    assert uow.database.available(SKU) == 2
    (released,) = uow.published
    assert released == events.SeatReleased(
        group_id="g-1",
        user_id=SECOND,
        seat_id=second.seat_id,
        reason=events.RELEASE_REASON_ORDER_CANCELLED,
        released_at=timestamp(NOW),
    )


async def test_a_cancellation_of_a_paid_seat_changes_nothing() -> None:
    paid = seat(SECOND, state=SeatState.PAID)
    uow = FakeUnitOfWork(database_with(seat(LEADER), paid, of=group(size=3)))
    assert paid.order_id is not None
    async with uow:
        await lifecycle.release_order_seat(uow, order_id=paid.order_id, group_id="g-1", user_id=SECOND, now=NOW)
    assert uow.database.seats[paid.seat_id].seat.state is SeatState.PAID
    assert uow.published == []


# --- the window job


async def fail_due(uow: FakeUnitOfWork, *, now: datetime) -> list[str]:
    settled = await lifecycle.fail_due_groups(uow, now=now, grace=GRACE, fallback=FALLBACK, limit=10)
    return [g.group_id for g in settled.done]


async def test_a_group_whose_window_ended_is_failed_its_holds_released_and_its_paid_units_given_back() -> None:
    ends = NOW - timedelta(hours=1)
    paid = seat(LEADER, state=SeatState.PAID, pay_by=ends)
    held = seat(SECOND, pay_by=ends - timedelta(minutes=10), named=True)
    database = database_with(paid, held, of=group(size=3, expires_at=ends))
    uow = FakeUnitOfWork(database)

    assert await fail_due(uow, now=NOW + FALLBACK) == ["g-1"]

    failed_group = database.groups["g-1"]
    assert (failed_group.state, failed_group.failure_reason) == (GroupState.FAILED, FailureReason.WINDOW_ENDED)
    assert database.seats[held.seat_id].seat.release_reason == ReleaseReason.GROUP_CLOSED.value
    assert database.available(SKU) == 3  # the paid seat's unit (refunded) and the held seat's came back
    assert uow.published_types() == ["GroupFailed", "SeatReleased"]
    failed = uow.published[0]
    assert isinstance(failed, events.GroupFailed)
    assert (list(failed.paid_order_ids), list(failed.unpaid_order_ids)) == ([paid.order_id], [held.order_id])


async def test_a_group_is_failed_once() -> None:
    ends = NOW - timedelta(hours=1)
    uow = FakeUnitOfWork(database_with(seat(LEADER, state=SeatState.PAID, pay_by=ends), of=group(expires_at=ends)))
    assert await fail_due(uow, now=NOW) == ["g-1"]
    assert await fail_due(uow, now=NOW) == []
    assert uow.published_types().count("GroupFailed") == 1


async def test_a_group_is_not_failed_within_the_grace_after_its_window() -> None:
    ends = NOW - GRACE + timedelta(seconds=1)
    uow = FakeUnitOfWork(database_with(seat(LEADER, state=SeatState.PAID, pay_by=ends), of=group(expires_at=ends)))
    assert await fail_due(uow, now=NOW) == []


async def test_a_hold_that_may_still_be_paid_in_time_keeps_its_group_open() -> None:
    ends = NOW - timedelta(minutes=1)
    held = seat(SECOND, pay_by=ends, named=False)  # its payment could be confirmed until ends + grace
    uow = FakeUnitOfWork(
        database_with(seat(LEADER, state=SeatState.PAID, pay_by=ends), held, of=group(size=3, expires_at=ends))
    )
    assert await fail_due(uow, now=NOW) == []
    later = ends + PAYMENT_CONFIRMATION_GRACE + GRACE + timedelta(seconds=1)
    assert await fail_due(uow, now=later) == ["g-1"]


async def test_a_hold_whose_order_is_known_keeps_its_group_open_until_the_fallback() -> None:
    ends = NOW - timedelta(hours=1)
    held = seat(SECOND, pay_by=ends - timedelta(minutes=5), named=True)
    uow = FakeUnitOfWork(
        database_with(seat(LEADER, state=SeatState.PAID, pay_by=ends), held, of=group(size=3, expires_at=ends))
    )
    assert await fail_due(uow, now=ends + FALLBACK - timedelta(seconds=1)) == []  # its order's events may come
    assert await fail_due(uow, now=ends + FALLBACK + timedelta(seconds=1)) == ["g-1"]


async def test_the_window_job_skips_a_group_set_aside() -> None:
    ends = NOW - timedelta(hours=1)
    database = database_with(seat(LEADER, state=SeatState.PAID, pay_by=ends), of=group(expires_at=ends))
    database.set_aside.add((lifecycle.WINDOW.name, "g-1"))
    assert await fail_due(FakeUnitOfWork(database), now=NOW) == []
    assert database.groups["g-1"].state is GroupState.OPEN


# --- the hold backstop


async def test_the_backstop_releases_long_expired_holds_no_order_ever_named() -> None:
    unnamed = seat(SECOND, pay_by=NOW - timedelta(hours=1), named=False)
    named = seat(THIRD, pay_by=NOW - timedelta(hours=1), named=True)
    fresh = seat(LEADER, pay_by=NOW - timedelta(seconds=10), named=False)  # within the confirmation grace
    database = database_with(unnamed, named, fresh, of=group(size=4))
    uow = FakeUnitOfWork(database)

    settled = await lifecycle.release_stale_holds(uow, before=NOW, now=NOW, limit=10)

    assert [s.seat_id for s in settled.done] == [unnamed.seat_id]
    assert database.seats[unnamed.seat_id].seat.release_reason == ReleaseReason.HOLD_EXPIRED.value
    assert database.seats[named.seat_id].seat.state is SeatState.HELD  # ended by its order's events only
    assert database.seats[fresh.seat_id].seat.state is SeatState.HELD
    assert uow.published_types() == ["SeatReleased"]


# --- the identity check


def completed_group(*users: str) -> FakeDatabase:
    database = database_with(*(seat(user, state=SeatState.PAID) for user in users), of=group(size=len(users)))
    database.groups["g-1"] = replace(database.groups["g-1"], state=GroupState.COMPLETED, closed_at=NOW)
    return database


async def test_a_completed_group_of_one_persons_accounts_is_flagged_once() -> None:
    database = completed_group(LEADER, SECOND)
    # The two pingou accounts share nothing directly; one mall account is linked to both.
    links = FakeLinks({LEADER: ["mu_9000001"], SECOND: ["mu_9000001"]})
    uow = FakeUnitOfWork(database)

    settled = await lifecycle.check_identities(uow, links, now=NOW, limit=10)
    again = await lifecycle.check_identities(uow, links, now=NOW, limit=10)

    assert (settled.done, again.claimed) == ([("g-1", True)], 0)
    assert database.groups["g-1"].flagged
    (flagged,) = uow.published
    assert isinstance(flagged, events.GroupFlagged)
    assert list(flagged.user_ids) == [LEADER, SECOND]


async def test_a_completed_group_of_different_people_is_checked_and_not_flagged() -> None:
    database = completed_group(LEADER, SECOND)
    uow = FakeUnitOfWork(database)
    settled = await lifecycle.check_identities(uow, FakeLinks({LEADER: ["mu_9000001"]}), now=NOW, limit=10)
    assert settled.done == [("g-1", False)]
    assert "g-1" in database.identity_checked
    assert uow.published == []


async def test_the_identity_check_is_tried_again_later_when_segmentation_does_not_answer() -> None:
    database = completed_group(LEADER, SECOND)
    uow = FakeUnitOfWork(database)
    with pytest.raises(Unavailable):
        await lifecycle.check_identities(uow, FakeLinks(down=True), now=NOW, limit=10)
    assert database.identity_checked == set()
    assert (uow.commits, uow.rollbacks) == (0, 1)
