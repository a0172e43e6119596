"""The facts decide, not how late their events come: a payment made in time completes its group however late
its OrderPaid arrives (also while groupbuy is down); a group that fails releases every seat still held, so
no order can be placed into it by a retry; a payment for a seat of a group that has already ended is
announced again so the order service refunds it; a retried call gets its own seat, never another's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import grpc
import pytest
from pingou.groupbuy.v1 import events_pb2 as events
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2 as order_pb

from libs.core import BusinessLine
from libs.database import create_pool
from libs.grpckit.errors import reason_of
from services.groupbuy.adapters.repository import GroupRepository
from services.groupbuy.domain.model import ReleaseReason
from services.groupbuy.entrypoints.jobs import WindowJob
from services.groupbuy.service_layer import lifecycle
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


MEMBER_KEY = "member-join-1"  # the member's idempotency key (each test has its own member)


async def _half_paid_pair(platform: Platform) -> tuple[pb.SeatResult, pb.SeatResult]:
    """A group of 2: the leader paid, the member's seat (key MEMBER_KEY) held with its order known."""
    sku = await platform.listing(size=2, stock=10)
    leader, member = await platform.register(), await platform.register()
    opened = await platform.open(leader, sku)
    await platform.pay(opened)
    joined = await platform.join(member, group_id=opened.group.group_id, key=MEMBER_KEY)

    async def settled() -> bool:
        group = await platform.get_group(opened.group.group_id)
        return group.seats_paid == 1 and (await platform.seat_row(joined.seat.seat_id))["order_id"] is not None

    await eventually(settled)
    return opened, joined


async def _state(platform: Platform, group_id: str, state: pb.GroupState.ValueType) -> bool:
    return await platform.group_state(group_id) == state


async def test_a_payment_made_while_groupbuy_is_down_completes_the_group_after_the_restart(
    platform: Platform,
) -> None:
    opened, joined = await _half_paid_pair(platform)
    group_id = opened.group.group_id
    await platform.stop_groupbuy()
    try:
        paid = await platform.pay(joined)  # OrderPaid is published while nobody at groupbuy listens
        assert paid.state == order_pb.ORDER_STATE_AWAITING_GROUP
    finally:
        await platform.start_groupbuy_again()

    await eventually(partial(_state, platform, group_id, pb.GROUP_STATE_COMPLETED))

    async def orders_completed() -> bool:
        states = {await platform.shop.state_of(r.order.order_id) for r in (opened, joined)}
        return states == {order_pb.ORDER_STATE_GROUP_COMPLETED}

    await eventually(orders_completed)
    names = await platform.event_names(group_id)
    assert (names.count("SeatPaid"), names.count("GroupCompleted"), names.count("GroupFailed")) == (2, 1, 0)


async def test_a_payment_in_the_window_whose_event_comes_after_the_window_completes_the_group(
    platform: Platform,
) -> None:
    opened, joined = await _half_paid_pair(platform)
    group_id = opened.group.group_id
    await platform.stop_groupbuy()
    try:
        # The window ends two seconds from now; the member pays inside it, but groupbuy (down, or lagging)
        # hears of it only after the window ended, when the window job is already running.
        await platform.fetch(
            f"UPDATE {SCHEMA}.groups SET expires_at = now() + interval '2 seconds' WHERE group_id = $1",  # noqa: S608
            uuid.UUID(group_id),
        )
        await platform.pay(joined)
        (row,) = await platform.fetch(
            f"SELECT expires_at FROM {SCHEMA}.groups WHERE group_id = $1",  # noqa: S608
            uuid.UUID(group_id),
        )
        await asyncio.sleep(max(0.0, (row["expires_at"] - datetime.now(UTC)).total_seconds()) + 1.0)
    finally:
        await platform.start_groupbuy_again()

    await eventually(partial(_state, platform, group_id, pb.GROUP_STATE_COMPLETED))
    assert "GroupFailed" not in await platform.event_names(group_id)


async def test_a_payment_a_second_before_pay_by_confirmed_three_seconds_after_it_completes_the_group(
    platform: Platform,
) -> None:
    """The race of a payment made in time against every timer: the order service's payment timeout and
    groupbuy's jobs run while the confirmation is on its way, and none of them ends the seat."""
    opened, joined = await _half_paid_pair(platform)
    group_id = opened.group.group_id
    await platform.shop.get(joined.order.order_id)  # placed from SeatHeld (GetOrder waits for it)
    # The member's hold ends two seconds from now, in groupbuy and in the order service alike.
    await platform.fetch(
        f"UPDATE {SCHEMA}.seats SET pay_by = now() + interval '2 seconds' WHERE seat_id = $1",  # noqa: S608
        uuid.UUID(joined.seat.seat_id),
    )
    (row,) = await platform.fetch(
        "UPDATE order_pingou.orders SET pay_by = now() + interval '2 seconds' WHERE order_id = $1 RETURNING pay_by",
        joined.order.order_id,
    )
    pay_by: datetime = row["pay_by"]
    await asyncio.sleep(max(0.0, (pay_by - datetime.now(UTC)).total_seconds()) + 3.0)  # the jobs poll meanwhile

    request = platform.shop.payment(joined.order)
    request.paid_at.FromDatetime(pay_by - timedelta(seconds=1))  # the provider took the money in time
    paid = await platform.shop.orders.ConfirmPayment(request, metadata=platform.shop.payments(BusinessLine.PINGOU))
    assert paid.state == order_pb.ORDER_STATE_AWAITING_GROUP

    await eventually(partial(_state, platform, group_id, pb.GROUP_STATE_COMPLETED))
    names = await platform.event_names(group_id)
    assert ("GroupFailed" in names, "SeatReleased" in names) == (False, False)
    assert not (await platform.shop.get(joined.order.order_id)).refunds


@pytest.fixture
async def window_job(platform: Platform) -> AsyncIterator[WindowJob]:
    """A window job of another replica (it runs even while the service is down) that takes every event a
    group waits for as lost (no fallback time)."""
    pool = await create_pool(platform.database_url, schema=SCHEMA, application_name="test-window-job")
    try:
        uow = partial(UnitOfWork, pool, BusinessLine.PINGOU, topic_prefix=platform.settings.kafka_topic_prefix)
        yield WindowJob(uow, poll_seconds=0.05, fallback=timedelta(0))
    finally:
        await pool.close()


async def _forget_order(platform: Platform, seat_id: str) -> None:
    """As if the seat's OrderPlaced had not been handled yet: groupbuy does not know the seat's order."""
    await platform.fetch(f"UPDATE {SCHEMA}.seats SET order_id = NULL WHERE seat_id = $1", uuid.UUID(seat_id))  # noqa: S608


async def test_a_failed_group_releases_every_held_seat_and_a_retry_places_no_order_into_it(
    platform: Platform,
) -> None:
    opened, joined = await _half_paid_pair(platform)
    group_id, member = opened.group.group_id, joined.seat.user_id
    await _forget_order(platform, joined.seat.seat_id)
    await platform.end_window(group_id, unpaid_too=False)
    await eventually(partial(_state, platform, group_id, pb.GROUP_STATE_FAILED))
    seat = await platform.seat_row(joined.seat.seat_id)
    assert (seat["state"], seat["release_reason"]) == ("released", "group_closed")
    released = [e for e in await platform.events_of(group_id) if isinstance(e, events.SeatReleased)]
    assert [(e.user_id, e.reason) for e in released] == [(member, events.RELEASE_REASON_GROUP_CLOSED)]

    # The buyer's client retries the join with the same key: no order is placed into the failed group.
    with pytest.raises(grpc.aio.AioRpcError) as retried:
        await platform.join(member, group_id=group_id, key=MEMBER_KEY)
    assert retried.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(retried.value) == "SEAT_RELEASED"

    # A seat left held in a failed group (by a version before this rule): the retry releases it and says why.
    await platform.fetch(
        f"""UPDATE {SCHEMA}.seats SET state = 'held', released_at = NULL, release_reason = NULL
        WHERE seat_id = $1""",  # noqa: S608
        uuid.UUID(joined.seat.seat_id),
    )
    with pytest.raises(grpc.aio.AioRpcError) as legacy:
        await platform.join(member, group_id=group_id, key=MEMBER_KEY)
    assert (legacy.value.code(), reason_of(legacy.value)) == (grpc.StatusCode.FAILED_PRECONDITION, "GROUP_FAILED")
    assert (await platform.seat_row(joined.seat.seat_id))["state"] == "released"


async def test_a_payment_for_a_seat_of_a_failed_group_is_announced_again_and_refunded(
    platform: Platform, window_job: WindowJob
) -> None:
    opened, joined = await _half_paid_pair(platform)
    group_id = opened.group.group_id
    await platform.stop_groupbuy()
    try:
        # While groupbuy is down: the member pays; the window has ended, and another replica's window job
        # fails the group past its fallback, taking the member's awaited order events as lost.
        await platform.pay(joined)
        await platform.end_window(group_id, unpaid_too=False)
        assert await window_job.run_once() >= 1
        seat = await platform.seat_row(joined.seat.seat_id)
        assert (seat["state"], seat["release_reason"]) == ("released", "group_closed")
    finally:
        await platform.start_groupbuy_again()

    async def announced_again() -> list[events.GroupFailed]:
        failures = [e for e in await platform.events_of(group_id) if isinstance(e, events.GroupFailed)]
        return [e for e in failures if e.reannounced]

    (again,) = await eventually(announced_again)
    assert list(again.paid_order_ids) == [joined.order.order_id]
    assert again.reason == events.FAILURE_REASON_WINDOW_ENDED
    failures = [e for e in await platform.events_of(group_id) if isinstance(e, events.GroupFailed)]
    assert [e.reannounced for e in failures] == [False, True]
    assert (await platform.seat_row(joined.seat.seat_id))["state"] == "released"  # never counted as paid
    assert (await platform.get_group(group_id)).seats_paid == 1

    async def refunded() -> bool:
        order = await platform.shop.get(joined.order.order_id)
        return [refund.reason for refund in order.refunds] == [order_pb.REFUND_REASON_GROUP_FAILED]

    await eventually(refunded)


async def test_a_retried_join_into_a_group_that_filled_since_returns_the_buyers_own_seat(
    platform: Platform,
) -> None:
    opened, joined = await _half_paid_pair(platform)
    group_id = opened.group.group_id
    assert (await platform.get_group(group_id)).seats_taken == 2  # full
    again = await platform.join(joined.seat.user_id, group_id=group_id, key=MEMBER_KEY)
    assert (again.seat.seat_id, again.order.order_id) == (joined.seat.seat_id, joined.order.order_id)

    await platform.pay(joined)
    await eventually(partial(_state, platform, group_id, pb.GROUP_STATE_COMPLETED))
    after = await platform.join(joined.seat.user_id, group_id=group_id, key=MEMBER_KEY)
    assert (after.seat.seat_id, after.group.state) == (joined.seat.seat_id, pb.GROUP_STATE_COMPLETED)


async def test_the_same_key_for_another_group_is_refused_not_answered_with_the_first_seat(
    platform: Platform,
) -> None:
    sku = await platform.listing(size=3, stock=10)
    buyer = await platform.register()
    first, second = [await platform.open(await platform.register(), sku) for _ in range(2)]
    taken = await platform.join(buyer, group_id=first.group.group_id, key="the-one-key")
    before = await platform.fetch(
        f"SELECT seat_id FROM {SCHEMA}.seats WHERE user_id = $1",  # noqa: S608
        buyer,
    )
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await platform.join(buyer, group_id=second.group.group_id, key="the-one-key")
    assert (reused.value.code(), reason_of(reused.value)) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_KEY_REUSED")
    assert await platform.fetch(f"SELECT seat_id FROM {SCHEMA}.seats WHERE user_id = $1", buyer) == before  # noqa: S608
    other_sku = await platform.listing(size=3, stock=10)
    with pytest.raises(grpc.aio.AioRpcError) as reused_open:
        await platform.open(buyer, other_sku, key="the-one-key")
    assert reason_of(reused_open.value) == "REQUEST_KEY_REUSED"
    # The same key for the same group is still the retry it always was.
    again = await platform.join(buyer, group_id=first.group.group_id, key="the-one-key")
    assert again.seat.seat_id == taken.seat.seat_id


async def test_a_payment_for_a_seat_of_a_completed_group_repeats_the_completion_with_its_members(
    platform: Platform,
) -> None:
    opened, late = await _half_paid_pair(platform)
    group_id = opened.group.group_id
    # The late member's hold was freed (its payment not yet known) and another buyer completed the group.
    pool = await create_pool(platform.database_url, schema=SCHEMA, application_name="test-late-payment")
    try:
        await GroupRepository(pool).release_seats(
            [late.seat.seat_id], reason=ReleaseReason.HOLD_EXPIRED, at=datetime.now(UTC)
        )
        other = await platform.join(await platform.register(), group_id=group_id)
        await platform.pay(other)
        await eventually(partial(_state, platform, group_id, pb.GROUP_STATE_COMPLETED))

        # Now the late member's OrderPaid is handled.
        async with UnitOfWork(pool, BusinessLine.PINGOU, topic_prefix=platform.settings.kafka_topic_prefix) as uow:
            await lifecycle.pay_seat(
                uow,
                order_id=late.order.order_id,
                group_id=group_id,
                user_id=late.seat.user_id,
                paid_at=datetime.now(UTC),
                now=datetime.now(UTC),
            )
    finally:
        await pool.close()
    completions = [e for e in await platform.events_of(group_id) if isinstance(e, events.GroupCompleted)]
    assert [e.reannounced for e in completions] == [False, True]
    members = sorted([opened.order.order_id, other.order.order_id])
    assert [sorted(e.order_ids) for e in completions] == [members, members]  # the late order is not one
    assert (await platform.seat_row(late.seat.seat_id))["state"] == "released"
    assert (await platform.get_group(group_id)).seats_paid == 2
