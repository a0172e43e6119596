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
from libs.core.paging import PageTokens
from libs.grpckit.access import admitted_as_owner
from libs.logs import get_logger
from services.order.domain.model import CancelReason, Order
from services.order.entrypoints import mapping
from services.order.service_layer import access, orders, payments, refunds, transitions
from services.order.service_layer.orders import MemberCheck, StockAndPrices
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork

# The calls that change one order, keyed by the order id and an idempotency key.
OrderChange = pb.CancelOrderRequest | pb.MarkShippedRequest | pb.ConfirmDeliveryRequest | pb.RequestRefundRequest
log = get_logger(__name__)


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
        placed = await orders.place_mall_order(
            self._uow(BusinessLine.MALL),
            self._catalog,
            self._membership,
            mapping.place_mall_order(request),
            digest=mapping.digest_of(request),
            policy=self._policy,
            now=self._now(),
        )
        return mapping.order_to_proto(placed)

    async def PlaceGroupOrder(self, request: pb.PlaceGroupOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        now = self._now()
        placed = await orders.place_group_order(
            self._uow(BusinessLine.PINGOU),
            self._catalog,
            mapping.place_group_order(request, policy=self._policy, now=now),
            digest=mapping.digest_of(request),
            policy=self._policy,
            now=now,
        )
        return mapping.order_to_proto(placed)

    async def _change_order(
        self,
        request: OrderChange,
        *,
        change: Callable[[UnitOfWork, datetime], Awaitable[Order]],
    ) -> pb.Order:
        """A keyed change of one order: authorized, then run once per idempotency key (scoped to the order)."""
        line = await self._order_line(request.order_id)
        now = self._now()
        changed = await orders.keyed(
            self._uow(line),
            scope=request.order_id,
            key=request.idempotency_key,
            method=type(request).__name__.removesuffix("Request"),
            digest=mapping.digest_of(request),
            change=lambda uow: change(uow, now),
        )
        return mapping.order_to_proto(changed)

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        reason = CancelReason.BY_BUYER if admitted_as_owner() else CancelReason.BY_OPERATOR
        return await self._change_order(
            request,
            change=lambda uow, now: transitions.cancel(uow, request.order_id, reason=reason, now=now),
        )

    async def ConfirmPayment(self, request: pb.ConfirmPaymentRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        line = await self._order_line(request.order_id)
        now = self._now()
        payment = mapping.payment_confirmation(request, now=now)
        paid = await payments.confirm_payment(self._uow(line), payment, policy=self._policy, now=now)
        return mapping.order_to_proto(paid)

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
        result = mapping.refund_result(request)
        refund = await refunds.report_refund_result(self._uow(line), result, policy=self._policy, now=self._now())
        return mapping.refund_to_proto(refund)

    async def RetryRefund(self, request: pb.RetryRefundRequest, context: grpc.aio.ServicerContext) -> pb.Refund:
        line = current_principal().line
        refund = await refunds.retry_refund(self._uow(line), request.refund_id, policy=self._policy, now=self._now())
        return mapping.refund_to_proto(refund)

    async def GetOrder(self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        line = await self._order_line(request.order_id)
        async with self._uow(line)() as uow:
            return mapping.order_to_proto(await transitions.get_order(uow, request.order_id))

    async def ListUserOrders(
        self, request: pb.ListUserOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        line = current_principal().line
        size = request.page_size or 20
        scope = mapping.user_orders_scope(request.user_id)
        after = mapping.page_after(request.page_token, scope, self._page_tokens)
        async with self._uow(line)() as uow:
            found = await uow.orders.user_orders(request.user_id, after=after, limit=size + 1)
        return mapping.orders_page(found, size, scope, self._page_tokens)

    async def ListOrdersByState(
        self, request: pb.ListOrdersByStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        line = current_principal().line
        size = request.page_size or 50
        state = mapping.STATE_FROM_PROTO[request.state]
        kind = mapping.KIND_FROM_PROTO.get(request.kind)
        scope = mapping.orders_in_state_scope(line, state, kind)
        after = mapping.page_after(request.page_token, scope, self._page_tokens)
        async with self._uow(line)() as uow:
            found = await uow.orders.orders_in_state(state, kind=kind, after=after, limit=size + 1)
        return mapping.orders_page(found, size, scope, self._page_tokens)
