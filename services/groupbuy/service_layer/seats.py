"""Use cases that take a seat: open a group, join one (by id or invite code), auto-match.

The path of a join, designed for throughput (1,500 joins/s on two cores, bench/README.md): the group's
terms come from an in-process cache (they never change), eligibility answers from short caches, then ONE
statement holds the seat: the conditional count update, the seat row, its unit of stock from groupbuy's
allotment (leased from catalog in blocks), the per-user count and the outbox row of SeatHeld. That is
the whole answer: the seat and its stock are held and durable, and the buyer is told what to pay (the
order's id, named from the seat, and its amount). The order service places the order from SeatHeld; its
payment or cancellation comes back as events. A retry with the same idempotency key gets the same seat
and order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from libs.core import AlreadyExists, DomainError, FailedPrecondition, NotFound
from libs.events import outbox_rows
from libs.logs import get_logger
from services.groupbuy.domain.model import (
    Buyer,
    Group,
    GroupState,
    ReleaseReason,
    Seat,
    SeatRequest,
    SeatState,
    new_id,
    new_invite_code,
    new_stock_start,
    pay_by,
    seat_order_id,
    shanghai_day,
)
from services.groupbuy.service_layer import announcements as announce
from services.groupbuy.service_layer.context import Context
from services.groupbuy.service_layer.unit_of_work import GROUP_AGGREGATE

log = get_logger(__name__)

AUTO_MATCH_CANDIDATES = 5
# Auto-match never puts a buyer into a group about to end: they could not pay in time.
AUTO_MATCH_MIN_REMAINING = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SeatTaken:
    """The seat and its group; the seat names its order (placed by the order service from SeatHeld)."""

    group: Group
    seat: Seat


# --- eligibility


async def check_eligibility(context: Context, user_id: str, *, new_user_only: bool, plus_only: bool) -> tuple[str, ...]:
    """Only a buyer segmentation's registry knows holds a seat; then each group's own rule, each refusal
    with its own reason. The questions are asked at once. Returns the accounts a new-user-only seat claims
    (the buyer's and every linked one: the discount is once per person, see the seat statements)."""
    registered, new, member, linked = await asyncio.gather(
        context.eligibility.is_registered(user_id),
        context.eligibility.is_new_to_company(user_id) if new_user_only else _true(),
        context.eligibility.is_member(user_id) if plus_only else _true(),
        context.eligibility.linked_accounts(user_id) if new_user_only else _none(),
    )
    if not registered:
        raise NotFound(
            f"segmentation has no account {user_id}: a buyer is registered before taking a seat",
            reason="USER_NOT_FOUND",
        )
    if not new:
        raise FailedPrecondition(
            f"{user_id} has ordered before (on pingou or the mall, through a linked account): "
            "this group is for buyers new to the company",
            reason="NEW_USERS_ONLY",
        )
    if not member:
        raise FailedPrecondition(f"{user_id} is not a PLUS member: this group is for PLUS members", reason="PLUS_ONLY")
    return (user_id, *sorted(set(linked) - {user_id})) if new_user_only else ()


async def _true() -> bool:
    return True


async def _none() -> Sequence[str]:
    return ()


# --- open


async def open_group(context: Context, buyer: Buyer, sku_id: str) -> SeatTaken:
    terms = await context.listings.group_terms(sku_id)
    claims = await check_eligibility(
        context, buyer.user_id, new_user_only=terms.new_user_only, plus_only=terms.plus_only
    )
    now = context.clock()
    expires_at = now + terms.window
    group_id, seat_id = new_id(), new_id()
    seat = SeatRequest(
        seat_id=seat_id,
        group_id=group_id,
        buyer=buyer,
        leader=True,
        unit_price_minor=terms.leader_price_minor,
        invite_code=new_invite_code(),
        inviter_user_id=None,
        held_at=now,
        pay_by=pay_by(now, context.hold, expires_at),
        order_id=seat_order_id(buyer.user_id, seat_id),
        stock_start=new_stock_start(),
        claims=claims,
    )
    opened = Group(
        group_id=group_id,
        sku_id=sku_id,
        leader_user_id=buyer.user_id,
        state=GroupState.OPEN,
        size=terms.size,
        seats_taken=1,
        seats_paid=0,
        group_price_minor=terms.group_price_minor,
        leader_price_minor=terms.leader_price_minor,
        per_user_limit=terms.per_user_limit,
        new_user_only=terms.new_user_only,
        plus_only=terms.plus_only,
        strangers_can_join=terms.strangers_can_join,
        auto_match=terms.auto_match,
        share_code=seat.invite_code,
        opened_at=now,
        expires_at=expires_at,
        closed_at=None,
        flagged=False,
    )
    rows = outbox_rows(
        [
            announce.group_event(context.topic_prefix, group_id, announce.group_opened(opened)),
            announce.group_event(
                context.topic_prefix,
                group_id,
                announce.seat_held(seat, sku_id=sku_id, group_expires_at=expires_at),
            ),
        ]
    )
    try:
        group = await context.allotment.take(
            sku_id,
            lambda: context.repository.open_group(
                group_id=group_id,
                terms=terms,
                seat=seat,
                expires_at=expires_at,
                day=shanghai_day(now),
                daily_cap=context.daily_open_cap,
                events=rows,
            ),
        )
    except AlreadyExists:
        return await _replay(context, buyer, sku_id=sku_id)
    context.remember(group)
    return SeatTaken(group, _seat_of(seat))


# --- join


async def join_group(
    context: Context, buyer: Buyer, *, group_id: str | None = None, invite_code: str | None = None
) -> SeatTaken:
    inviter: str | None = None
    if invite_code is not None:
        group_id, inviter = await context.invite(invite_code)
    assert group_id is not None
    group = await context.group_terms(group_id)
    if inviter is None and not group.strangers_can_join:
        raise FailedPrecondition("this group takes members only through an invite code", reason="INVITE_REQUIRED")
    claims = await check_eligibility(
        context, buyer.user_id, new_user_only=group.new_user_only, plus_only=group.plus_only
    )
    taken = await _hold(context, buyer, group, inviter=inviter, claims=claims)
    if taken is None:
        # A retry of a join that took its seat (the group has filled or completed since) gets that seat.
        replayed = await _replay_or_none(context, buyer, group_id=group.group_id)
        if replayed is not None:
            return replayed
        current = await context.repository.group(group.group_id)
        assert current is not None
        raise current.why_no_seat(context.clock())
    return taken


async def _hold(
    context: Context,
    buyer: Buyer,
    group: Group,
    *,
    inviter: str | None,
    claims: tuple[str, ...],
    any_group_of_sku: bool = False,
) -> SeatTaken | None:
    """Holds a seat in the group (with its unit of stock); None when the group had no seat to give. A
    request key that took a seat already returns that seat if it is in this group (or, for auto-match,
    `any_group_of_sku`, in any group of the SKU)."""
    now = context.clock()
    seat_id = new_id()
    seat = SeatRequest(
        seat_id=seat_id,
        group_id=group.group_id,
        buyer=buyer,
        leader=False,
        unit_price_minor=group.group_price_minor,
        invite_code=new_invite_code(),
        inviter_user_id=inviter,
        held_at=now,
        pay_by=pay_by(now, context.hold, group.expires_at),
        order_id=seat_order_id(buyer.user_id, seat_id),
        stock_start=new_stock_start(),
        claims=claims,
    )
    held = announce.seat_held(seat, sku_id=group.sku_id, group_expires_at=group.expires_at)
    rows = outbox_rows([announce.group_event(context.topic_prefix, group.group_id, held)])

    async def hold() -> tuple[Group | None, int]:
        taken = await context.repository.hold_seat(
            seat, sku_id=group.sku_id, per_user_limit=group.per_user_limit, events=rows
        )
        return (None, context.allotment.block) if taken is None else taken

    try:
        after = await context.allotment.take(group.sku_id, hold)
    except AlreadyExists as error:
        in_group = None if any_group_of_sku else group.group_id
        replayed = await _replay_or_none(context, buyer, sku_id=group.sku_id, group_id=in_group)
        if replayed is None:
            raise error from None
        return replayed
    if after is None:
        return None
    return SeatTaken(after, _seat_of(seat))


# --- auto-match


async def auto_match(context: Context, buyer: Buyer, sku_id: str) -> SeatTaken:
    """Into the open group of the SKU nearest to completion that the buyer may join, else a new group."""
    terms = await context.listings.group_terms(sku_id)
    if not terms.auto_match:
        raise FailedPrecondition("auto-match is not offered for this SKU", reason="AUTO_MATCH_DISABLED")
    claims = await check_eligibility(
        context, buyer.user_id, new_user_only=terms.new_user_only, plus_only=terms.plus_only
    )
    replayed = await _replay_or_none(context, buyer, sku_id=sku_id)
    if replayed is not None:
        return replayed
    candidates = await context.repository.candidates(
        sku_id=sku_id,
        user_id=buyer.user_id,
        new_user=terms.new_user_only,
        member=terms.plus_only,
        open_after=context.clock() + AUTO_MATCH_MIN_REMAINING,
        limit=AUTO_MATCH_CANDIDATES,
    )
    for candidate in candidates:
        try:
            taken = await _hold(context, buyer, candidate, inviter=None, claims=claims, any_group_of_sku=True)
        except DomainError as error:
            if error.reason in ("ALREADY_IN_GROUP",):
                continue
            raise
        if taken is not None:
            return taken
    return await open_group(context, buyer, sku_id)


# --- releasing a seat


async def release_seat(context: Context, seat: Seat, *, reason: ReleaseReason) -> None:
    """Releases the seat if still held (SeatReleased), giving its unit of stock back."""
    now = context.clock()
    async with context.uow() as uow:
        await uow.groups.lock_group(seat.group_id)  # before the seat: the order every path locks them in
        for released in await uow.groups.release_seats([seat.seat_id], reason=reason, at=now):
            uow.publish(GROUP_AGGREGATE, seat.group_id, announce.seat_released(released, reason=reason, at=now))


# --- retries with the same idempotency key


async def _replay_or_none(
    context: Context, buyer: Buyer, *, sku_id: str | None = None, group_id: str | None = None
) -> SeatTaken | None:
    """The seat this request key took before (None if it took none). The key of a call for another SKU or
    another group is refused (REQUEST_KEY_REUSED) rather than answered with a seat the caller did not ask for."""
    first = await context.repository.seat_by_request(buyer.user_id, buyer.request_key)
    if first is None:
        return None
    if group_id is not None and first.group_id != group_id:
        raise _key_reused(first)
    group = await context.repository.group(first.group_id)
    assert group is not None
    if sku_id is not None and group.sku_id != sku_id:
        raise _key_reused(first)
    return await _replay_seat(context, group, first)


def _key_reused(seat: Seat) -> AlreadyExists:
    return AlreadyExists(
        "this idempotency key was used for a seat in another group",
        reason="REQUEST_KEY_REUSED",
        metadata={"group_id": seat.group_id},
    )


async def _replay(context: Context, buyer: Buyer, *, sku_id: str) -> SeatTaken:
    replayed = await _replay_or_none(context, buyer, sku_id=sku_id)
    if replayed is None:
        raise AlreadyExists("this idempotency key was used for another seat", reason="REQUEST_KEY_REUSED")
    return replayed


async def _replay_seat(context: Context, group: Group, seat: Seat) -> SeatTaken:
    """The first call's result again: the same seat and the same order. A seat held before the order was
    named in it got its order from the order service under the seat id as key: the same name."""
    if seat.state is SeatState.RELEASED:
        raise FailedPrecondition(
            f"the seat this request took was released ({seat.release_reason})",
            reason="SEAT_RELEASED",
            metadata={"group_id": seat.group_id},
        )
    if seat.order_id is None:
        if group.state is not GroupState.OPEN:
            await release_seat(context, seat, reason=ReleaseReason.GROUP_CLOSED)
            raise group.why_no_seat(context.clock())
        seat = replace(seat, order_id=seat_order_id(seat.user_id, seat.seat_id))
    return SeatTaken(group, seat)


def _seat_of(request: SeatRequest) -> Seat:
    return Seat(
        seat_id=request.seat_id,
        group_id=request.group_id,
        user_id=request.buyer.user_id,
        leader=request.leader,
        state=SeatState.HELD,
        invite_code=request.invite_code,
        inviter_user_id=request.inviter_user_id,
        unit_price_minor=request.unit_price_minor,
        shipping_city=request.buyer.shipping_city,
        channel=request.buyer.channel,
        order_id=request.order_id,
        held_at=request.held_at,
        pay_by=request.pay_by,
        paid_at=None,
    )
