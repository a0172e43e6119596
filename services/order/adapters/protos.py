"""Orders and refunds as protobuf messages: the gRPC answers, the events, and the stored answers that
idempotency keys replay."""

from __future__ import annotations

from pingou.order.v1 import order_pb2 as pb

from libs.convert import optional_timestamp, timestamp
from services.order.domain.model import (
    CancelReason,
    Channel,
    Order,
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
