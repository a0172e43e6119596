"""The group events, built from the domain (one place, so every path announces the same way)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.message import Message
from pingou.groupbuy.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import BusinessLine
from libs.events import OutboxEvent, topic_name
from services.groupbuy.domain.model import FailureReason, Group, ReleaseReason, Seat, SeatRequest
from services.groupbuy.service_layer.unit_of_work import GROUP_AGGREGATE

LINE = BusinessLine.PINGOU
RELEASE_TO_PROTO = {
    ReleaseReason.ORDER_CANCELLED: events.RELEASE_REASON_ORDER_CANCELLED,
    ReleaseReason.ORDER_REFUSED: events.RELEASE_REASON_ORDER_REFUSED,
    ReleaseReason.HOLD_EXPIRED: events.RELEASE_REASON_HOLD_EXPIRED,
    ReleaseReason.GROUP_CLOSED: events.RELEASE_REASON_GROUP_CLOSED,
}
FAILURE_TO_PROTO = {
    FailureReason.WINDOW_ENDED: events.FAILURE_REASON_WINDOW_ENDED,
    FailureReason.LEADER_ORDER_REFUSED: events.FAILURE_REASON_LEADER_ORDER_REFUSED,
}


def group_event(prefix: str, group_id: str, payload: Message) -> OutboxEvent:
    return OutboxEvent(topic_name(LINE, GROUP_AGGREGATE, prefix=prefix), group_id, LINE, payload)


def group_opened(group: Group) -> events.GroupOpened:
    return events.GroupOpened(
        group_id=group.group_id,
        leader_user_id=group.leader_user_id,
        sku_id=group.sku_id,
        size=group.size,
        opened_at=timestamp(group.opened_at),
        expires_at=timestamp(group.expires_at),
        share_code=group.share_code,
        group_price_minor=group.group_price_minor,
    )


def seat_held(seat: SeatRequest, *, sku_id: str, group_expires_at: datetime) -> events.SeatHeld:
    """Everything the order service needs to place the seat's order under the id the buyer was given."""
    return events.SeatHeld(
        group_id=seat.group_id,
        user_id=seat.buyer.user_id,
        inviter_user_id=seat.inviter_user_id or "",
        held_at=timestamp(seat.held_at),
        seat_id=seat.seat_id,
        sku_id=sku_id,
        leader=seat.leader,
        pay_by=timestamp(seat.pay_by),
        order_id=seat.order_id,
        unit_price_minor=seat.unit_price_minor,
        shipping_city=seat.buyer.shipping_city,
        channel=seat.buyer.channel,  # type: ignore[arg-type]  # validated at the edge: a Channel value
        group_expires_at=timestamp(group_expires_at),
    )


def seat_paid(seat: Seat, *, order_id: str, paid_at: datetime, seats_paid: int) -> events.SeatPaid:
    return events.SeatPaid(
        group_id=seat.group_id,
        user_id=seat.user_id,
        seat_id=seat.seat_id,
        order_id=order_id,
        paid_at=timestamp(paid_at),
        seats_paid=seats_paid,
    )


def seat_released(seat: Seat, *, reason: ReleaseReason, at: datetime) -> events.SeatReleased:
    return events.SeatReleased(
        group_id=seat.group_id,
        user_id=seat.user_id,
        seat_id=seat.seat_id,
        reason=RELEASE_TO_PROTO[reason],
        released_at=timestamp(at),
    )


def group_completed(group: Group, paid: Sequence[Seat], *, reannounced: bool = False) -> events.GroupCompleted:
    assert group.closed_at is not None
    return events.GroupCompleted(
        group_id=group.group_id,
        sku_id=group.sku_id,
        size=group.size,
        order_ids=[seat.order_id for seat in paid if seat.order_id],
        opened_at=timestamp(group.opened_at),
        completed_at=timestamp(group.closed_at),
        reannounced=reannounced,
    )


def group_failed(
    group: Group, seats: Sequence[Seat], reason: FailureReason, *, reannounced: bool = False
) -> events.GroupFailed:
    assert group.closed_at is not None
    return events.GroupFailed(
        group_id=group.group_id,
        sku_id=group.sku_id,
        size=group.size,
        paid_order_ids=[s.order_id for s in seats if s.order_id and s.paid_at is not None],
        unpaid_order_ids=[s.order_id for s in seats if s.order_id and s.paid_at is None],
        failed_at=timestamp(group.closed_at),
        reason=FAILURE_TO_PROTO[reason],
        reannounced=reannounced,
    )


def group_flagged(group: Group, user_ids: Sequence[str], at: datetime) -> events.GroupFlagged:
    return events.GroupFlagged(group_id=group.group_id, user_ids=list(user_ids), flagged_at=timestamp(at))
