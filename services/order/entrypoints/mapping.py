"""Proto <-> domain for the order API: requests become commands, orders and pages of them become answers.
The order and refund messages are the ones the integration events carry (service_layer/announcements.py):
one mapping, kept with the events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from google.protobuf.message import Message
from pingou.order.v1 import order_pb2 as pb

from libs.core import BusinessLine
from libs.core.paging import Moment, PageTokens, Text, page_shape
from services.order.domain.model import ORDER_ID, Order, OrderKind, OrderState
from services.order.service_layer.announcements import CHANNEL_FROM_PROTO as CHANNEL_FROM_PROTO
from services.order.service_layer.announcements import KIND_FROM_PROTO as KIND_FROM_PROTO
from services.order.service_layer.announcements import STATE_FROM_PROTO as STATE_FROM_PROTO
from services.order.service_layer.announcements import order_to_proto as order_to_proto
from services.order.service_layer.announcements import refund_to_proto as refund_to_proto
from services.order.service_layer.orders import PlaceGroupOrder, PlaceMallOrder
from services.order.service_layer.payments import PaymentConfirmation
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.refunds import RefundResult

# The order listings' keyset, newest first: after (created_at, order_id).
ORDERS_PAGE = page_shape(Moment(), Text(ORDER_ID))


def digest_of(request: Message) -> bytes:
    """What an idempotency key is bound to: the request's exact content."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


def place_mall_order(request: pb.PlaceMallOrderRequest) -> PlaceMallOrder:
    return PlaceMallOrder(
        idempotency_key=request.idempotency_key,
        user_id=request.user_id,
        items=tuple((item.sku_id, item.quantity) for item in request.items),
        shipping_city=request.shipping_city.strip(),
        channel=CHANNEL_FROM_PROTO[request.channel],
    )


def place_group_order(request: pb.PlaceGroupOrderRequest, *, policy: OrderPolicy, now: datetime) -> PlaceGroupOrder:
    """Unset, the payment limit is the policy's from now, and the group ends when the payment limit does."""
    pay_by = request.pay_by.ToDatetime(tzinfo=UTC) if request.HasField("pay_by") else now + policy.payment_limit
    ends = request.group_expires_at.ToDatetime(tzinfo=UTC) if request.HasField("group_expires_at") else pay_by
    return PlaceGroupOrder(
        idempotency_key=request.idempotency_key,
        user_id=request.user_id,
        sku_id=request.sku_id,
        group_id=request.group_id,
        seat_id=request.seat_id or request.idempotency_key,
        group_leader=request.group_leader,
        unit_price_minor=request.unit_price_minor,
        shipping_city=request.shipping_city.strip(),
        channel=CHANNEL_FROM_PROTO[request.channel],
        pay_by=pay_by,
        group_expires_at=max(ends, pay_by),
    )


def payment_confirmation(request: pb.ConfirmPaymentRequest, *, now: datetime) -> PaymentConfirmation:
    """Unset, the payment was made when its confirmation arrives."""
    return PaymentConfirmation(
        order_id=request.order_id,
        intent_id=request.intent_id,
        payment_reference=request.payment_reference,
        amount_minor=request.amount_minor,
        currency=request.currency,
        paid_at=request.paid_at.ToDatetime(tzinfo=UTC) if request.HasField("paid_at") else now,
    )


def refund_result(request: pb.ReportRefundResultRequest) -> RefundResult:
    return RefundResult(
        refund_id=request.refund_id,
        attempt=request.attempt,
        succeeded=request.succeeded,
        provider_reference=request.provider_reference,
        error=request.error,
    )


# --- pages of orders


def user_orders_scope(user_id: str) -> str:
    """What ListUserOrders' page tokens are bound to: the user."""
    return f"user:{user_id}"


def orders_in_state_scope(line: BusinessLine, state: OrderState, kind: OrderKind | None) -> str:
    """What ListOrdersByState's page tokens are bound to: the line, the state and the kind asked for."""
    return f"state:{line}:{state}:{kind}"


def orders_page(found: list[Order], size: int, scope: str, tokens: PageTokens) -> pb.ListOrdersResponse:
    """The first `size` of `found` (asked for one more, to know whether a next page exists)."""
    token = ""
    if len(found) > size:
        last = found[size - 1]
        token = tokens.encode(ORDERS_PAGE, (last.created_at, last.order_id), scope=scope)
    return pb.ListOrdersResponse(orders=[order_to_proto(order) for order in found[:size]], next_page_token=token)


def page_after(token: str, scope: str, tokens: PageTokens) -> tuple[datetime, str] | None:
    return tokens.decode(ORDERS_PAGE, token, scope=scope) if token else None
