"""The order service's PlaceGroupOrder, called with groupbuy's own service token (pingou line)."""

from __future__ import annotations

import grpc
from pingou.order.v1 import order_pb2 as order_pb
from pingou.order.v1 import order_pb2_grpc as order_grpc

from libs.auth import ServiceCredentials
from libs.convert import timestamp
from libs.core import BusinessLine, DomainError, Unavailable
from libs.grpckit import open_channel
from libs.grpckit.errors import reason_of
from services.groupbuy.service_layer.ports import GroupOrder

ORDER_SERVICE = order_pb.DESCRIPTOR.services_by_name["OrderService"].full_name
# Idempotent by its key (the seat id): safe to retry when the order service is briefly UNAVAILABLE.
PLACE_GROUP_ORDER = f"{ORDER_SERVICE}/PlaceGroupOrder"
GET_ORDER = f"{ORDER_SERVICE}/GetOrder"
DEADLINE_SECONDS = 3.0
# The order service's refusals that are the buyer's or the listing's business, passed on as they are.
PASSED_ON = {
    grpc.StatusCode.FAILED_PRECONDITION: "FAILED_PRECONDITION",
    grpc.StatusCode.NOT_FOUND: "NOT_FOUND",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
    grpc.StatusCode.ALREADY_EXISTS: "ALREADY_EXISTS",
    grpc.StatusCode.ABORTED: "ABORTED",
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    grpc.StatusCode.PERMISSION_DENIED: "PERMISSION_DENIED",
}


def open_order_channel(address: str, *, deadline_seconds: float = DEADLINE_SECONDS) -> grpc.aio.Channel:
    return open_channel(address, idempotent_methods=[PLACE_GROUP_ORDER, GET_ORDER], default_timeout=deadline_seconds)


class OrderRefused(DomainError):
    """The order service's refusal, with its status and reason, handed on to groupbuy's caller."""

    def __init__(self, status: str, message: str, reason: str | None):
        self.status = status
        super().__init__(f"the order was refused: {message}", reason=reason or status)


class GrpcOrders:
    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials):
        self._stub = order_grpc.OrderServiceStub(channel)
        self._credentials = credentials

    async def place_group_order(self, order: GroupOrder) -> order_pb.Order:
        request = order_pb.PlaceGroupOrderRequest(
            idempotency_key=order.seat_id,
            user_id=order.user_id,
            sku_id=order.sku_id,
            group_id=order.group_id,
            group_leader=order.leader,
            unit_price_minor=order.unit_price_minor,
            shipping_city=order.shipping_city,
            channel=order.channel,  # type: ignore[arg-type]  # validated at groupbuy's edge
            pay_by=timestamp(order.pay_by),
            group_expires_at=timestamp(order.group_expires_at),
            seat_id=order.seat_id,
        )
        try:
            placed: order_pb.Order = await self._stub.PlaceGroupOrder(
                request, metadata=self._credentials.metadata(BusinessLine.PINGOU)
            )
        except grpc.aio.AioRpcError as error:
            raise _refusal(error) from None
        return placed

    async def get_order(self, order_id: str) -> order_pb.Order:
        try:
            found: order_pb.Order = await self._stub.GetOrder(
                order_pb.GetOrderRequest(order_id=order_id), metadata=self._credentials.metadata(BusinessLine.PINGOU)
            )
        except grpc.aio.AioRpcError as error:
            raise _refusal(error) from None
        return found


def _refusal(error: grpc.aio.AioRpcError) -> DomainError:
    status = PASSED_ON.get(error.code())
    if status is None:
        # UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL...: the order may or may not exist.
        return Unavailable(
            f"the order service did not answer ({error.code().name}); retry with the same key",
            reason="ORDER_SERVICE_UNAVAILABLE",
        )
    return OrderRefused(status, error.details() or status, reason_of(error))
