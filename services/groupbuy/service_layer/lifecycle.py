"""What happens to seats and groups after the join: the order's events (paid, cancelled), the window's
end, holds no order ever ended, and the identity check of completed groups. (The order events reach these
use cases from entrypoints/consumers.py.)

Completion happens in the transaction that records the last paid seat; failure in the window job's
transaction. Both change the group row only while it is 'open', under its row lock, so each group
completes or fails exactly once, whatever runs at the same time (consumers, several job replicas).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from libs.core.orders import pay_by_closed_before
from libs.jobs import Job, Settled, settle_each, settle_together
from libs.logs import get_logger
from services.groupbuy.domain.model import FailureReason, Group, GroupState, ReleaseReason, Seat, SeatState
from services.groupbuy.service_layer import announcements as announce
from services.groupbuy.service_layer.ports import LinkedAccounts
from services.groupbuy.service_layer.unit_of_work import GROUP_AGGREGATE, UnitOfWork

log = get_logger(__name__)

Clock = Callable[[], datetime]  # the use cases' now, passed in so tests can set it


async def pay_seat(
    uow: UnitOfWork, *, order_id: str, group_id: str, user_id: str, paid_at: datetime, now: datetime
) -> None:
    """The order was paid: its held seat becomes paid, and the group completes if that was the last seat.
    A payment for a seat of a group that has already ended is not counted: the outcome is announced again
    with this order, so the order service refunds it."""
    group = await uow.groups.lock_group(group_id)  # before the seat: the order every path locks them in
    seat = await uow.groups.seat_of_order(order_id=order_id, group_id=group_id, user_id=user_id)
    if group is None or seat is None:
        log.warning("payment_without_seat", order_id=order_id, group_id=group_id)
        return
    if group.state is not GroupState.OPEN:
        if seat.state is not SeatState.PAID:
            await _announce_again(uow, group, replace(seat, order_id=order_id, paid_at=paid_at))
        return
    if seat.state is not SeatState.HELD:
        # Released while the group is open (its order was cancelled: the order service refunds a payment
        # for a cancelled order; or no order was known in time: the group's outcome refunds it, as the
        # order service refunds every paid order of a group that is not among the completed ones).
        log.warning("payment_without_held_seat", order_id=order_id, group_id=group_id, seat=seat.state)
        return
    counted = await uow.groups.pay_seat(seat.seat_id, order_id=order_id, paid_at=paid_at, now=now)
    assert counted is not None  # held, and its group open and locked
    uow.publish(
        GROUP_AGGREGATE,
        group_id,
        announce.seat_paid(seat, order_id=order_id, paid_at=paid_at, seats_paid=counted.seats_paid),
    )
    if counted.state is GroupState.COMPLETED:
        await uow.groups.uncount_closed([counted.group_id])
        paid = await uow.groups.seats([counted.group_id], states=[SeatState.PAID])
        uow.publish(GROUP_AGGREGATE, group_id, announce.group_completed(counted, paid))
        log.info("group_completed", group_id=group_id, size=counted.size)


async def _announce_again(uow: UnitOfWork, group: Group, late: Seat) -> None:
    """A payment came for a seat of a group that has ended: the outcome is published again (marked as a
    repeat) so the order service refunds it. A failed group names it among the paid orders (all of which
    are refunded); a completed group names its members again, and the order service refunds any paid
    order of the group that is not one of them."""
    log.warning("payment_for_closed_group", order_id=late.order_id, group_id=group.group_id, group=group.state)
    if group.state is GroupState.FAILED:
        reason = group.failure_reason or FailureReason.WINDOW_ENDED
        uow.publish(GROUP_AGGREGATE, group.group_id, announce.group_failed(group, [late], reason, reannounced=True))
    else:
        paid = await uow.groups.seats([group.group_id], states=[SeatState.PAID])
        uow.publish(GROUP_AGGREGATE, group.group_id, announce.group_completed(group, paid, reannounced=True))


async def release_order_seat(uow: UnitOfWork, *, order_id: str, group_id: str, user_id: str, now: datetime) -> None:
    """The order was cancelled unpaid (its hold expired, the buyer cancelled, the group failed): the seat
    is released, and free again while its group is open."""
    await uow.groups.lock_group(group_id)  # before the seat: the order every path locks them in
    seat = await uow.groups.seat_of_order(order_id=order_id, group_id=group_id, user_id=user_id)
    if seat is None or seat.state is not SeatState.HELD:
        return
    reason = ReleaseReason.ORDER_CANCELLED
    for released in await uow.groups.release_seats([seat.seat_id], reason=reason, at=now):
        uow.publish(GROUP_AGGREGATE, group_id, announce.seat_released(released, reason=reason, at=now))


# --- durable jobs (claimed with SKIP LOCKED: any number of replicas share them; a group or seat whose work
# fails for a reason of its own is set aside, libs.jobs, and the others go on)

WINDOW = Job("groupbuy", "window")
HOLD_BACKSTOP = Job("groupbuy", "hold_backstop")
IDENTITY_CHECK = Job("groupbuy", "identity_check")


async def fail_due_groups(
    uow: UnitOfWork, *, now: datetime, grace: timedelta, fallback: timedelta, limit: int
) -> Settled[Group]:
    """Fails up to `limit` open groups whose window ended more than `grace` ago and that no held seat keeps
    open, announcing each in the same transaction. A held seat keeps its group open while a payment of it
    may still be confirmed in time (libs.core.orders' rule, the one the order service accepts payments and
    cancels orders by; `grace` on top, for the OrderPaid of a payment accepted at the last moment to
    arrive), and, when its order is known, until that order's OrderPaid or OrderCancelled comes, or until
    `fallback` after the window (those events are then taken as lost). A payment made in time thus
    completes the group instead of being refunded, however late its event comes."""
    ended_by = now - grace
    async with uow:
        due = await uow.groups.claim_due_groups(
            ended_by=ended_by,
            given_up_by=now - fallback,
            pay_by_closed_before=pay_by_closed_before(ended_by),
            job=WINDOW.name,
            limit=limit,
        )

        async def fail(group_ids: Sequence[str]) -> list[Group]:
            failed = await uow.groups.fail_groups(group_ids, reason=FailureReason.WINDOW_ENDED, now=now)
            await announce_failures(uow, failed, FailureReason.WINDOW_ENDED, now=now)
            return failed

        settled = await settle_together(uow, WINDOW, due, fail)
    return settled


async def announce_failures(uow: UnitOfWork, failed: Sequence[Group], reason: FailureReason, *, now: datetime) -> None:
    """The rest of failing groups (just marked failed, in this transaction): they no longer count towards
    their members' per-user limits, GroupFailed names their paid and unpaid orders, every seat still held
    is released, so no order can be placed or paid into them any more, and every seat's unit of stock goes
    back to the allotment (the paid ones are refunded)."""
    if not failed:
        return
    ids = [group.group_id for group in failed]
    await uow.groups.uncount_closed(ids)
    await uow.groups.give_back_paid_units(ids)
    members = await uow.groups.seats(ids, states=[SeatState.HELD, SeatState.PAID])
    for group in failed:
        own = [seat for seat in members if seat.group_id == group.group_id]
        uow.publish(GROUP_AGGREGATE, group.group_id, announce.group_failed(group, own, reason))
    held = [seat.seat_id for seat in members if seat.state is SeatState.HELD]
    for seat in await uow.groups.release_seats(held, reason=ReleaseReason.GROUP_CLOSED, at=now) if held else []:
        uow.publish(
            GROUP_AGGREGATE, seat.group_id, announce.seat_released(seat, reason=ReleaseReason.GROUP_CLOSED, at=now)
        )


async def release_stale_holds(uow: UnitOfWork, *, before: datetime, now: datetime, limit: int) -> Settled[Seat]:
    """Backstop: holds whose payment limit ended long ago (`before`, and never while a payment of theirs may
    still be confirmed in time) and whose order never became known (it was never placed, or its OrderPlaced
    is lost) are released. A hold with a known order is ended by that order's OrderPaid or OrderCancelled,
    however late they come (or, if lost, when its group fails)."""
    async with uow:
        stale = await uow.groups.claim_stale_holds(
            before=min(before, pay_by_closed_before(now)), job=HOLD_BACKSTOP.name, limit=limit
        )

        async def release(seat_ids: Sequence[str]) -> list[Seat]:
            released = await uow.groups.release_seats(seat_ids, reason=ReleaseReason.HOLD_EXPIRED, at=now)
            for seat in released:
                uow.publish(
                    GROUP_AGGREGATE,
                    seat.group_id,
                    announce.seat_released(seat, reason=ReleaseReason.HOLD_EXPIRED, at=now),
                )
            return released

        settled = await settle_together(uow, HOLD_BACKSTOP, stale, release)
    return settled


async def check_identities(
    uow: UnitOfWork, links: LinkedAccounts, *, now: datetime, limit: int
) -> Settled[tuple[str, bool]]:
    """Flags completed groups whose members are all accounts of one person (by segmentation's identity
    links), each group on its own: one whose check fails (a member segmentation does not know, say) is
    set aside and the others are checked. Each settled group comes with whether it was flagged."""
    async with uow:
        unchecked = await uow.groups.claim_unchecked_completed(job=IDENTITY_CHECK.name, limit=limit)
        settled = await settle_each(
            uow, IDENTITY_CHECK, unchecked, lambda group_id: _check_identity(uow, links, group_id, now=now)
        )
    return settled


async def _check_identity(uow: UnitOfWork, links: LinkedAccounts, group_id: str, *, now: datetime) -> tuple[str, bool]:
    group = await uow.groups.group(group_id)
    assert group is not None, "claimed, and locked since"
    users = [seat.user_id for seat in await uow.groups.seats([group_id], states=[SeatState.PAID])]
    same_person = await _one_person(links, users)
    await uow.groups.mark_identity_checked(group_id, flagged=same_person)
    if same_person:
        uow.publish(GROUP_AGGREGATE, group_id, announce.group_flagged(group, users, now))
    return group_id, same_person


async def _one_person(links: LinkedAccounts, users: Sequence[str]) -> bool:
    """Whether the accounts are all one person's: some account (one of them, or a linked one on either
    line, such as the mall account that shares one's phone and another's WeChat id) is linked to every one."""
    if len(set(users)) < 2:
        return False
    common: set[str] | None = None
    for user_id in sorted(set(users)):
        person = {user_id, *await links.linked_accounts(user_id)}
        common = person if common is None else common & person
        if not common:
            return False
    return True
