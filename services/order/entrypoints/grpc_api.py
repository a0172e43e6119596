"""The gRPC adapter: proto <-> commands. Use cases do the work. Requests are validated (`validation.py`) and
their callers checked against the method's rule (`access.py`) before they get here: the line of the user,
order or refund a call names is the caller's line. What is left here is whether a buyer's order is theirs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
from pingou.order.v1 import order_pb2 as pb
from pingou.order.v1 import order_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.core import BusinessLine
from libs.core.paging import Moment, PageTokens, Text, page_shape
from libs.grpckit.access import admitted_as_owner
from libs.logs import get_logger
from services.order.adapters.protos import (
    CHANNEL_FROM_PROTO,
    KIND_FROM_PROTO,
    STATE_FROM_PROTO,
    order_to_proto,
    refund_to_proto,
)
from services.order.domain.model import ORDER_ID, CancelReason, Order, OrderKind, OrderState
from services.order.service_layer import access, orders, payments, refunds, transitions
from services.order.service_layer.orders import MemberCheck, PlaceGroupOrder, PlaceMallOrder, StockAndPrices, digest_of
from services.order.service_layer.payments import PaymentConfirmation
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.refunds import RefundResult
from services.order.service_layer.unit_of_work import UnitOfWork

# The calls that change one order, keyed by the order id and an idempotency key.
OrderChange = pb.CancelOrderRequest | pb.MarkShippedRequest | pb.ConfirmDeliveryRequest | pb.RequestRefundRequest
log = get_logger(__name__)
# The order listings' keyset, newest first: after (created_at, order_id).
ORDERS_PAGE = page_shape(Moment(), Text(ORDER_ID))


def user_orders_scope(user_id: str) -> str:
    """What ListUserOrders' page tokens are bound to: the user."""
    return f"user:{user_id}"


def orders_in_state_scope(line: BusinessLine, state: OrderState, kind: OrderKind | None) -> str:
    """What ListOrdersByState's page tokens are bound to: the line, the state and the kind asked for."""
    return f"state:{line}:{state}:{kind}"


def _page(found: list[Order], size: int, scope: str, tokens: PageTokens) -> pb.ListOrdersResponse:
    token = ""
    if len(found) > size:
        last = found[size - 1]
        token = tokens.encode(ORDERS_PAGE, (last.created_at, last.order_id), scope=scope)
    return pb.ListOrdersResponse(orders=[order_to_proto(order) for order in found[:size]], next_page_token=token)


def _after(token: str, scope: str, tokens: PageTokens) -> tuple[datetime, str] | None:
    return tokens.decode(ORDERS_PAGE, token, scope=scope) if token else None


# --- the servicer


class OrderServicer(pb_grpc.OrderServiceServicer):
    def __init__(
        self,
        *,
        pools: Mapping[BusinessLine, asyncpg.Pool],
        catalog: StockAndPrices,
        membership: MemberCheck,
        topic_prefix: str,
        policy: OrderPolicy,
        page_tokens: PageTokens,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._page_tokens = page_tokens
        self._pools = pools
        self._catalog = catalog
        self._membership = membership
        self._prefix = topic_prefix
        self._policy = policy
        self._now = clock

    def _uow(self, line: BusinessLine) -> Callable[[], UnitOfWork]:
        pool = self._pools[line]
        return lambda: UnitOfWork(pool, line, topic_prefix=self._prefix)

    async def _order_line(self, order_id: str) -> BusinessLine:
        """The order's line, which the rule checked is the caller's; a buyer (let in as the owner) must be
        the order's buyer. Every call naming an order comes through here, so here a pingou order not placed
        yet is waited for: its id came from the join, and groupbuy's SeatHeld places it a few milliseconds
        later. A mall order exists once the call placing it answered: no wait."""
        principal = current_principal()
        line = principal.line
        buyer = admitted_as_owner()
        wait = self._policy.placement_wait if line is BusinessLine.PINGOU else timedelta(0)
        if not buyer and not wait:
            return line  # nothing to wait for, nothing to check: the use case finds the order or says NOT_FOUND
        order_buyer = await access.buyer_of(self._uow(line), order_id, wait=wait)
        if buyer:
            access.check_buyer(order_buyer, order_id, principal.subject)
        return line

    async def PlaceMallOrder(self, request: pb.PlaceMallOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        command = PlaceMallOrder(
            idempotency_key=request.idempotency_key,
            user_id=request.user_id,
            items=tuple((item.sku_id, item.quantity) for item in request.items),
            shipping_city=request.shipping_city.strip(),
            channel=CHANNEL_FROM_PROTO[request.channel],
        )
        return await orders.place_mall_order(
            self._uow(BusinessLine.MALL),
            self._catalog,
            self._membership,
            command,
            digest=digest_of(request),
            policy=self._policy,
            now=self._now(),
        )

    async def PlaceGroupOrder(self, request: pb.PlaceGroupOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        now = self._now()
        pay_by = (
            request.pay_by.ToDatetime(tzinfo=UTC) if request.HasField("pay_by") else now + self._policy.payment_limit
        )
        ends = request.group_expires_at.ToDatetime(tzinfo=UTC) if request.HasField("group_expires_at") else pay_by
        command = PlaceGroupOrder(
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
        return await orders.place_group_order(
            self._uow(BusinessLine.PINGOU),
            self._catalog,
            command,
            digest=digest_of(request),
            policy=self._policy,
            now=now,
        )

    async def _change_order(
        self,
        request: OrderChange,
        *,
        change: Callable[[UnitOfWork, datetime], Awaitable[Order]],
    ) -> pb.Order:
        """A keyed change of one order: authorized, then run once per idempotency key (scoped to the order)."""
        line = await self._order_line(request.order_id)
        now = self._now()
        return await orders.keyed(
            self._uow(line),
            scope=request.order_id,
            key=request.idempotency_key,
            method=type(request).__name__.removesuffix("Request"),
            digest=digest_of(request),
            change=lambda uow: change(uow, now),
        )

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        reason = CancelReason.BY_BUYER if admitted_as_owner() else CancelReason.BY_OPERATOR
        return await self._change_order(
            request,
            change=lambda uow, now: transitions.cancel(uow, request.order_id, reason=reason, now=now),
        )

    async def ConfirmPayment(self, request: pb.ConfirmPaymentRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        line = await self._order_line(request.order_id)
        now = self._now()
        payment = PaymentConfirmation(
            order_id=request.order_id,
            intent_id=request.intent_id,
            payment_reference=request.payment_reference,
            amount_minor=request.amount_minor,
            currency=request.currency,
            paid_at=request.paid_at.ToDatetime(tzinfo=UTC) if request.HasField("paid_at") else now,
        )
        return await payments.confirm_payment(self._uow(line), payment, policy=self._policy, now=now)

    async def MarkShipped(self, request: pb.MarkShippedRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return await self._change_order(
            request,
            change=lambda uow, now: orders.mark_shipped(
                uow, request.order_id, tracking_number=request.tracking_number, now=now
            ),
        )

    async def ConfirmDelivery(self, request: pb.ConfirmDeliveryRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return await self._change_order(
            request,
            change=lambda uow, now: orders.confirm_delivery(uow, request.order_id, now=now),
        )

    async def RequestRefund(self, request: pb.RequestRefundRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return await self._change_order(
            request,
            change=lambda uow, now: orders.request_after_sale_refund(
                uow, request.order_id, policy=self._policy, now=now
            ),
        )

    async def ReportRefundResult(
        self, request: pb.ReportRefundResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.Refund:
        line = current_principal().line
        result = RefundResult(
            refund_id=request.refund_id,
            attempt=request.attempt,
            succeeded=request.succeeded,
            provider_reference=request.provider_reference,
            error=request.error,
        )
        refund = await refunds.report_refund_result(self._uow(line), result, policy=self._policy, now=self._now())
        return refund_to_proto(refund)

    async def RetryRefund(self, request: pb.RetryRefundRequest, context: grpc.aio.ServicerContext) -> pb.Refund:
        line = current_principal().line
        refund = await refunds.retry_refund(self._uow(line), request.refund_id, policy=self._policy, now=self._now())
        return refund_to_proto(refund)

    async def GetOrder(self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        line = await self._order_line(request.order_id)
        async with self._uow(line)() as uow:
            return order_to_proto(await transitions.get_order(uow, request.order_id))

    async def ListUserOrders(
        self, request: pb.ListUserOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        line = current_principal().line
        size = request.page_size or 20
        scope = user_orders_scope(request.user_id)
        after = _after(request.page_token, scope, self._page_tokens)
        async with self._uow(line)() as uow:
            found = await uow.orders.user_orders(request.user_id, after=after, limit=size + 1)
        return _page(found, size, scope, self._page_tokens)

    async def ListOrdersByState(
        self, request: pb.ListOrdersByStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        line = current_principal().line
        size = request.page_size or 50
        state = STATE_FROM_PROTO[request.state]
        kind = KIND_FROM_PROTO.get(request.kind)
        scope = orders_in_state_scope(line, state, kind)
        after = _after(request.page_token, scope, self._page_tokens)
        async with self._uow(line)() as uow:
            found = await uow.orders.orders_in_state(state, kind=kind, after=after, limit=size + 1)
        return _page(found, size, scope, self._page_tokens)
