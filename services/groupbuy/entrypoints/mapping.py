"""Proto <-> domain for the groupbuy API: buyers become commands, groups, seats and pages of them become
answers, with what a buyer may see of a group. A seat's order is the one order places from SeatHeld."""

from __future__ import annotations

from collections.abc import Sequence

from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2

from libs.convert import optional_timestamp, timestamp
from libs.core.orders import CURRENCY, payment_intent_id
from libs.core.paging import PageTokens
from services.groupbuy.domain.model import (
    Buyer,
    Group,
    GroupState,
    Seat,
    SeatState,
)
from services.groupbuy.domain.paging import (
    OpenGroupsPage,
    UserGroupsPage,
    decode_open_groups,
    decode_user_groups,
    encode_open_groups,
    encode_user_groups,
)
from services.groupbuy.service_layer.seats import SeatTaken

GROUP_STATE_TO_PROTO = {
    GroupState.OPEN: pb.GROUP_STATE_OPEN,
    GroupState.COMPLETED: pb.GROUP_STATE_COMPLETED,
    GroupState.FAILED: pb.GROUP_STATE_FAILED,
}
SEAT_STATE_TO_PROTO = {
    SeatState.HELD: pb.SEAT_STATE_HELD,
    SeatState.PAID: pb.SEAT_STATE_PAID,
    SeatState.RELEASED: pb.SEAT_STATE_RELEASED,
}


def buyer_from_proto(buyer: pb.Buyer) -> Buyer:
    return Buyer(
        user_id=buyer.user_id,
        shipping_city=buyer.shipping_city.strip(),
        channel=buyer.channel,
        request_key=buyer.idempotency_key,
    )


def seat_to_proto(seat: Seat) -> pb.Seat:
    return pb.Seat(
        seat_id=seat.seat_id,
        user_id=seat.user_id,
        leader=seat.leader,
        state=SEAT_STATE_TO_PROTO[seat.state],
        invite_code=seat.invite_code,
        inviter_user_id=seat.inviter_user_id or "",
        order_id=seat.order_id or "",
        held_at=timestamp(seat.held_at),
        pay_by=timestamp(seat.pay_by),
        paid_at=optional_timestamp(seat.paid_at),
    )


def group_to_proto(group: Group, members: Sequence[Seat] = ()) -> pb.Group:
    return pb.Group(
        group_id=group.group_id,
        sku_id=group.sku_id,
        leader_user_id=group.leader_user_id,
        state=GROUP_STATE_TO_PROTO[group.state],
        size=group.size,
        seats_taken=group.seats_taken,
        seats_paid=group.seats_paid,
        group_price_minor=group.group_price_minor,
        leader_price_minor=group.leader_price_minor,
        new_user_only=group.new_user_only,
        plus_only=group.plus_only,
        strangers_can_join=group.strangers_can_join,
        share_code=group.share_code,
        opened_at=timestamp(group.opened_at),
        expires_at=timestamp(group.expires_at),
        closed_at=optional_timestamp(group.closed_at),
        flagged=group.flagged,
        seats=[seat_to_proto(seat) for seat in members],
    )


def seen_by_buyer(group: pb.Group, viewer: str) -> pb.Group:
    """What a buyer (`user` role) may see of a group: their own seat in full; of the others only their
    state, leader flag and times (no user ids, invite codes or order ids); the share code and the leader's
    id only if they are a member. Strangers still see all they need to join (by group id)."""
    member = any(seat.user_id == viewer and seat.state != pb.SEAT_STATE_RELEASED for seat in group.seats)
    if not member:
        group.share_code = ""
        group.leader_user_id = ""
    for seat in group.seats:
        if seat.user_id != viewer:
            for name in ("user_id", "invite_code", "inviter_user_id", "order_id"):
                seat.ClearField(name)
    return group


def seat_order_to_proto(group: Group, seat: Seat) -> order_pb2.Order:
    """The seat's order as the order service places it from SeatHeld: what the buyer pays, by when, and
    the payment intent to pay it through. A free leader's order (团长免单) is paid on the spot."""
    assert seat.order_id is not None
    free = seat.leader and seat.unit_price_minor == 0
    return order_pb2.Order(
        order_id=seat.order_id,
        user_id=seat.user_id,
        kind=order_pb2.ORDER_KIND_GROUP,
        state=order_pb2.ORDER_STATE_AWAITING_GROUP if free else order_pb2.ORDER_STATE_PENDING_PAYMENT,
        items=[
            order_pb2.OrderItem(
                sku_id=group.sku_id,
                quantity=1,
                unit_price_minor=seat.unit_price_minor,
                list_price_minor=seat.unit_price_minor,
            )
        ],
        total_minor=seat.unit_price_minor,
        currency=CURRENCY,
        channel=seat.channel,  # type: ignore[arg-type]  # validated at the edge: a Channel value
        shipping_city=seat.shipping_city,
        group_id=group.group_id,
        seat_id=seat.seat_id,
        group_leader=seat.leader,
        payment=order_pb2.PaymentIntent(
            intent_id=payment_intent_id(seat.order_id),
            amount_minor=seat.unit_price_minor,
            currency=CURRENCY,
            expires_at=timestamp(seat.pay_by),
        ),
        created_at=timestamp(seat.held_at),
        updated_at=timestamp(seat.held_at),
        paid_at=timestamp(seat.held_at) if free else None,
    )


def result_to_proto(taken: SeatTaken) -> pb.SeatResult:
    return pb.SeatResult(
        group=group_to_proto(taken.group),
        seat=seat_to_proto(taken.seat),
        order=seat_order_to_proto(taken.group, taken.seat),
    )


# --- pages of groups (their tokens: domain/paging.py)


def open_groups_after(request: pb.ListOpenGroupsRequest, tokens: PageTokens) -> OpenGroupsPage | None:
    return decode_open_groups(tokens, request.page_token, sku_id=request.sku_id) if request.page_token else None


def open_groups_page(found: list[Group], size: int, *, sku_id: str, tokens: PageTokens) -> pb.ListGroupsResponse:
    """The first `size` of `found` (asked for one more, to know whether a next page exists)."""
    token = ""
    if len(found) > size:
        found, last = found[:size], found[size - 1]
        token = encode_open_groups(
            tokens, OpenGroupsPage(last.seats_taken, last.expires_at, last.group_id), sku_id=sku_id
        )
    return pb.ListGroupsResponse(groups=[group_to_proto(group) for group in found], next_page_token=token)


def user_groups_after(request: pb.ListUserGroupsRequest, tokens: PageTokens) -> UserGroupsPage | None:
    return decode_user_groups(tokens, request.page_token, user_id=request.user_id) if request.page_token else None


def user_groups_page(
    found: list[tuple[Seat, Group]], size: int, *, user_id: str, tokens: PageTokens
) -> pb.ListGroupsResponse:
    """The first `size` of `found` (asked for one more), each group with the user's seat in it."""
    token = ""
    if len(found) > size:
        found = found[:size]
        last_seat = found[-1][0]
        last_page = UserGroupsPage(last_seat.held_at, last_seat.seat_id)
        token = encode_user_groups(tokens, last_page, user_id=user_id)
    return pb.ListGroupsResponse(groups=[group_to_proto(group, [seat]) for seat, group in found], next_page_token=token)
