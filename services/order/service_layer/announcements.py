"""Orders and refunds as the protobuf messages the integration events carry (OrderPlaced holds the order,
the refund events the refund); the API answers with the same messages (entrypoints/mapping.py takes them
from here).

The answers that idempotency keys and payment references replay are stored as the order message too, so a
replay answers exactly what the first call did; `order_from_answer` reads one back. The message shows what
the API shows: a replayed order has no tracking number, group deadline, or refund payment reference."""

from __future__ import annotations

from datetime import UTC

from pingou.order.v1 import order_pb2 as pb

from libs.convert import optional_timestamp, timestamp
from services.order.domain.model import (
    CancelReason,
    Channel,
    Order,
    OrderItem,
    OrderKind,
    OrderState,
    Refund,
    RefundReason,
    RefundState,
)

KIND_TO_PROTO = {OrderKind.MALL: pb.ORDER_KIND_MALL, OrderKind.GROUP: pb.ORDER_KIND_GROUP}
STATE_TO_PROTO: dict[OrderState, pb.OrderState.ValueType] = {
    state: pb.OrderState.Value(f"ORDER_STATE_{state.value.upper()}") for state in OrderState
}
CHANNEL_TO_PROTO: dict[Channel, pb.Channel.ValueType] = {
    channel: pb.Channel.Value(f"CHANNEL_{channel.value.upper()}") for channel in Channel
}
CANCEL_TO_PROTO: dict[CancelReason, pb.CancelReason.ValueType] = {
    reason: pb.CancelReason.Value(f"CANCEL_REASON_{reason.value.upper()}") for reason in CancelReason
}
REFUND_REASON_TO_PROTO: dict[RefundReason, pb.RefundReason.ValueType] = {
    reason: pb.RefundReason.Value(f"REFUND_REASON_{reason.value.upper()}") for reason in RefundReason
}
REFUND_STATE_TO_PROTO: dict[RefundState, pb.RefundState.ValueType] = {
    state: pb.RefundState.Value(f"REFUND_STATE_{state.value.upper()}") for state in RefundState
}
KIND_FROM_PROTO = {value: key for key, value in KIND_TO_PROTO.items()}
STATE_FROM_PROTO = {value: key for key, value in STATE_TO_PROTO.items()}
CHANNEL_FROM_PROTO = {value: key for key, value in CHANNEL_TO_PROTO.items()}
CANCEL_FROM_PROTO = {value: key for key, value in CANCEL_TO_PROTO.items()}
REFUND_REASON_FROM_PROTO = {value: key for key, value in REFUND_REASON_TO_PROTO.items()}
REFUND_STATE_FROM_PROTO = {value: key for key, value in REFUND_STATE_TO_PROTO.items()}


def refund_to_proto(refund: Refund) -> pb.Refund:
    return pb.Refund(
        refund_id=refund.refund_id,
        order_id=refund.order_id,
        reason=REFUND_REASON_TO_PROTO[refund.reason],
        state=REFUND_STATE_TO_PROTO[refund.state],
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        attempts=refund.attempts,
        provider_reference=refund.provider_reference or "",
        requested_at=timestamp(refund.requested_at),
        updated_at=timestamp(refund.updated_at),
    )


def order_to_proto(order: Order) -> pb.Order:
    return pb.Order(
        order_id=order.order_id,
        user_id=order.user_id,
        kind=KIND_TO_PROTO[order.kind],
        state=STATE_TO_PROTO[order.state],
        items=[
            pb.OrderItem(
                sku_id=item.sku_id,
                quantity=item.quantity,
                unit_price_minor=item.unit_price_minor,
                list_price_minor=item.list_price_minor,
                plus_price=item.plus_price,
            )
            for item in order.items
        ],
        total_minor=order.total_minor,
        currency=order.currency,
        channel=CHANNEL_TO_PROTO[order.channel],
        shipping_city=order.shipping_city,
        group_id=order.group_id or "",
        seat_id=order.seat_id or "",
        group_leader=order.group_leader,
        payment=pb.PaymentIntent(
            intent_id=order.intent_id,
            amount_minor=order.total_minor,
            currency=order.currency,
            expires_at=timestamp(order.pay_by),
        ),
        payment_reference=order.payment_reference or "",
        cancel_reason=CANCEL_TO_PROTO[order.cancel_reason] if order.cancel_reason else pb.CANCEL_REASON_UNSPECIFIED,
        refunds=[refund_to_proto(refund) for refund in order.refunds],
        created_at=timestamp(order.created_at),
        updated_at=timestamp(order.updated_at),
        paid_at=optional_timestamp(order.paid_at),
    )


def answer_of(order: Order) -> bytes:
    """The stored answer of a keyed call that changed or placed `order`."""
    return order_to_proto(order).SerializeToString()


def order_from_answer(answer: bytes) -> Order:
    """A stored answer as the order it showed (see the module's note on what it leaves out)."""
    message = pb.Order.FromString(answer)
    return Order(
        order_id=message.order_id,
        user_id=message.user_id,
        kind=KIND_FROM_PROTO[message.kind],
        state=STATE_FROM_PROTO[message.state],
        items=tuple(
            OrderItem(
                sku_id=item.sku_id,
                quantity=item.quantity,
                unit_price_minor=item.unit_price_minor,
                list_price_minor=item.list_price_minor,
                plus_price=item.plus_price,
            )
            for item in message.items
        ),
        total_minor=message.total_minor,
        currency=message.currency,
        channel=CHANNEL_FROM_PROTO[message.channel],
        shipping_city=message.shipping_city,
        pay_by=message.payment.expires_at.ToDatetime(tzinfo=UTC),
        created_at=message.created_at.ToDatetime(tzinfo=UTC),
        updated_at=message.updated_at.ToDatetime(tzinfo=UTC),
        group_id=message.group_id or None,
        seat_id=message.seat_id or None,
        group_leader=message.group_leader,
        payment_reference=message.payment_reference or None,
        paid_at=message.paid_at.ToDatetime(tzinfo=UTC) if message.HasField("paid_at") else None,
        cancel_reason=CANCEL_FROM_PROTO.get(message.cancel_reason),
        refunds=tuple(_refund_from_proto(refund) for refund in message.refunds),
    )


def _refund_from_proto(message: pb.Refund) -> Refund:
    return Refund(
        refund_id=message.refund_id,
        order_id=message.order_id,
        reason=REFUND_REASON_FROM_PROTO[message.reason],
        state=REFUND_STATE_FROM_PROTO[message.state],
        amount_minor=message.amount_minor,
        currency=message.currency,
        payment_reference="",  # not in the message
        attempts=message.attempts,
        requested_at=message.requested_at.ToDatetime(tzinfo=UTC),
        updated_at=message.updated_at.ToDatetime(tzinfo=UTC),
        provider_reference=message.provider_reference or None,
    )
