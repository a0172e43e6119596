"""The catalog service, asked over gRPC with this service's own credentials: listings (prices) and stock
reservations. Commit and release are not called from here: catalog settles a reservation itself when it
consumes this order's events (OrderPaid, OrderGroupCompleted, OrderCancelled, OrderRefunding)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import grpc
from pingou.catalog.v1 import catalog_pb2 as catalog_pb
from pingou.catalog.v1 import catalog_pb2_grpc as catalog_grpc

from libs.auth import ServiceCredentials
from libs.convert import LINE_TO_PROTO
from libs.core import Aborted, AlreadyExists, BusinessLine, FailedPrecondition, Unavailable
from libs.grpckit import open_channel
from libs.grpckit.errors import reason_of
from services.order.domain.model import MallPrice

CATALOG_SERVICE = catalog_pb.DESCRIPTOR.services_by_name["CatalogService"].full_name
# Both are safe to retry on UNAVAILABLE: a read, and a reservation idempotent by order id.
IDEMPOTENT = [f"{CATALOG_SERVICE}/GetListings", f"{CATALOG_SERVICE}/ReserveStock"]
DEADLINE_SECONDS = 3.0
_PASSED_ON = {"OUT_OF_STOCK", "NOT_LISTED"}  # the buyer's problem, told as catalog told it


def open_catalog_channel(address: str) -> grpc.aio.Channel:
    return open_channel(address, idempotent_methods=IDEMPOTENT, default_timeout=DEADLINE_SECONDS)


class Catalog:
    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials):
        self._stub = catalog_grpc.CatalogServiceStub(channel)
        self._credentials = credentials

    async def mall_prices(self, sku_ids: Sequence[str]) -> dict[str, MallPrice]:
        """Prices of the active mall listings among `sku_ids`; SKUs not for sale are left out."""
        try:
            reply = await self._stub.GetListings(
                catalog_pb.GetListingsRequest(line=LINE_TO_PROTO[BusinessLine.MALL], sku_ids=list(sku_ids)),
                metadata=self._credentials.metadata(BusinessLine.MALL),
            )
        except grpc.aio.AioRpcError as error:
            raise _translated(error) from None
        return {
            listing.sku_id: MallPrice(listing.mall.price_minor, listing.mall.plus_price_minor)
            for listing in reply.listings
            if listing.active and listing.WhichOneof("price") == "mall"
        }

    async def reserve(
        self, line: BusinessLine, order_id: str, items: Sequence[tuple[str, int]], *, hold: timedelta
    ) -> None:
        request = catalog_pb.ReserveStockRequest(
            line=LINE_TO_PROTO[line],
            order_id=order_id,
            items=[catalog_pb.ReservationItem(sku_id=sku_id, quantity=quantity) for sku_id, quantity in items],
            hold_seconds=int(hold.total_seconds()),
        )
        try:
            reservation = await self._stub.ReserveStock(request, metadata=self._credentials.metadata(line))
        except grpc.aio.AioRpcError as error:
            raise _translated(error) from None
        if reservation.state != catalog_pb.RESERVATION_STATE_RESERVED:
            # A retry of a placement whose first attempt reserved, died before the order was written,
            # and whose hold has since run out: that stock is back on sale.
            raise FailedPrecondition(
                "the stock held for this order ran out before the order was placed; order again with a new "
                "idempotency key",
                reason="RESERVATION_EXPIRED",
            )


def _translated(error: grpc.aio.AioRpcError) -> Exception:
    reason = reason_of(error)
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable("catalog did not answer; retry with the same idempotency key", reason="CATALOG_UNAVAILABLE")
    if reason == "STOCK_CONTENDED":
        return Aborted(error.details() or reason, reason=reason)
    if reason in _PASSED_ON:
        return FailedPrecondition(error.details() or reason, reason=reason)
    if reason == "RESERVATION_MISMATCH":
        return AlreadyExists(
            "this idempotency key was already used for an order of other items", reason="IDEMPOTENCY_KEY_REUSED"
        )
    return RuntimeError(
        f"catalog answered {error.code().name}: {error.details()}"
    )  # anything else (a refused token, a bad request we built) is our bug: INTERNAL, and logged
