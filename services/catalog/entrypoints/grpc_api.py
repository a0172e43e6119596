"""The catalog's gRPC adapter: proto -> command -> use case -> proto, the mapping in `mapping.py`. Requests
are validated (`validation.py`) and their callers checked against the method's rule (`access.py`) before
they get here; what is left here is whether a merchant edits its own product."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import asyncpg
import grpc
from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.catalog.v1 import catalog_pb2_grpc as pb_grpc

from libs.auth import Principal, current_principal
from libs.core import BusinessLine, PermissionDenied
from libs.core.paging import PageTokens
from libs.grpckit.access import admitted_as_owner
from libs.logs import get_logger
from services.catalog.entrypoints import mapping
from services.catalog.entrypoints.validation import DEFAULT_HOLD_SECONDS, DEFAULT_PAGE_SIZE
from services.catalog.service_layer import inventory, leases, products
from services.catalog.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


# --- the servicer


class CatalogServicer(pb_grpc.CatalogServiceServicer):
    def __init__(
        self,
        *,
        pools: Mapping[BusinessLine, asyncpg.Pool],
        topic_prefix: str,
        page_tokens: PageTokens,
    ):
        self._pools = pools
        self._page_tokens = page_tokens
        self._prefix = topic_prefix

    def _uow(self, line: BusinessLine) -> UnitOfWork:
        return UnitOfWork(self._pools[line], line, topic_prefix=self._prefix)

    @staticmethod
    def _require_editor_of(principal: Principal, *, merchant_id: str) -> None:
        """Operators edit anything; a merchant (let in as the owner) only its own products."""
        if admitted_as_owner() and principal.subject != merchant_id:
            raise PermissionDenied("a merchant edits only its own products", reason="NOT_YOUR_PRODUCT")

    async def ListBelts(self, request: pb.ListBeltsRequest, context: grpc.aio.ServicerContext) -> pb.ListBeltsResponse:
        async with self._uow(current_principal().line) as uow:
            rows = await uow.catalog.belts()
        return pb.ListBeltsResponse(belts=[mapping.belt_to_proto(row) for row in rows])

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCategoriesResponse:
        async with self._uow(current_principal().line) as uow:
            rows = await uow.catalog.categories()
        return pb.ListCategoriesResponse(categories=[mapping.category_to_proto(row) for row in rows])

    async def ListMerchants(
        self, request: pb.ListMerchantsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMerchantsResponse:
        scope = mapping.merchants_scope(request)
        after = mapping.merchants_after(request.page_token, scope, self._page_tokens)
        size = request.page_size or DEFAULT_PAGE_SIZE
        async with self._uow(current_principal().line) as uow:
            rows = await uow.catalog.merchants(belt_id=request.belt_id, after=after, limit=size + 1)
        return mapping.merchants_page(rows, size, scope, self._page_tokens)

    async def CreateProduct(self, request: pb.CreateProductRequest, context: grpc.aio.ServicerContext) -> pb.Product:
        principal = current_principal()
        self._require_editor_of(principal, merchant_id=request.merchant_id)
        async with self._uow(principal.line) as uow:
            product = await products.create_product(uow, mapping.product_from_proto(request))
        return mapping.product_to_proto(product)

    async def GetProducts(
        self, request: pb.GetProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProductsResponse:
        async with self._uow(current_principal().line) as uow:
            found = await products.get_products(uow, list(request.product_ids))
        return pb.GetProductsResponse(products=[mapping.product_to_proto(product) for product in found])

    async def UpsertListing(self, request: pb.UpsertListingRequest, context: grpc.aio.ServicerContext) -> pb.Listing:
        principal = current_principal()
        async with self._uow(principal.line) as uow:
            merchant = await products.product_merchant(uow, request.sku_id)
            self._require_editor_of(principal, merchant_id=merchant)
            listing = await products.upsert_listing(
                uow, sku_id=request.sku_id, prices=mapping.prices_from_proto(request)
            )
        return mapping.listing_to_proto(listing)

    async def RemoveListing(self, request: pb.RemoveListingRequest, context: grpc.aio.ServicerContext) -> pb.Listing:
        principal = current_principal()
        async with self._uow(principal.line) as uow:
            merchant = await products.product_merchant(uow, request.sku_id)
            self._require_editor_of(principal, merchant_id=merchant)
            listing = await products.remove_listing(uow, request.sku_id)
        return mapping.listing_to_proto(listing)

    async def GetListings(
        self, request: pb.GetListingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetListingsResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            found = await uow.catalog.listings(list(request.sku_ids))
        return pb.GetListingsResponse(listings=[mapping.listing_to_proto(listing) for listing in found])

    async def SearchListings(
        self, request: pb.SearchListingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchListingsResponse:
        line = current_principal().line
        scope = mapping.search_scope(request)
        after = mapping.search_after(request.page_token, scope, self._page_tokens)
        size = request.page_size or DEFAULT_PAGE_SIZE
        async with self._uow(line) as uow:
            found = await uow.catalog.search(
                query=request.query.strip(),
                category_id=request.category_id,
                belt_id=request.belt_id,
                factory_direct=request.factory_direct if request.HasField("factory_direct") else None,
                min_price=request.min_price_minor,
                max_price=request.max_price_minor,
                after=after,
                limit=size + 1,
            )
        return mapping.search_page(found, size, scope, self._page_tokens)

    async def SetStock(self, request: pb.SetStockRequest, context: grpc.aio.ServicerContext) -> pb.Stock:
        line = current_principal().line
        async with self._uow(line) as uow:
            stock = await inventory.set_stock(uow, sku_id=request.sku_id, available=request.available)
        return mapping.stock_to_proto(line, request.sku_id, stock)

    async def GetStock(self, request: pb.GetStockRequest, context: grpc.aio.ServicerContext) -> pb.Stock:
        line = current_principal().line
        async with self._uow(line) as uow:
            stock = await inventory.get_stock(uow, request.sku_id)
        return mapping.stock_to_proto(line, request.sku_id, stock)

    async def ReserveStock(self, request: pb.ReserveStockRequest, context: grpc.aio.ServicerContext) -> pb.Reservation:
        line = current_principal().line
        reservation = await inventory.reserve_stock(
            lambda: self._uow(line),
            order_id=request.order_id,
            items=mapping.items_from_proto(list(request.items)),
            hold=timedelta(seconds=request.hold_seconds or DEFAULT_HOLD_SECONDS),
        )
        return mapping.reservation_to_proto(reservation)

    async def CommitReservation(
        self, request: pb.ReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        line = current_principal().line
        async with self._uow(line) as uow:
            return mapping.reservation_to_proto(await inventory.commit(uow, request.order_id))

    async def ReleaseReservation(
        self, request: pb.ReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        line = current_principal().line
        async with self._uow(line) as uow:
            return mapping.reservation_to_proto(await inventory.release(uow, request.order_id))

    async def LeaseStock(self, request: pb.LeaseStockRequest, context: grpc.aio.ServicerContext) -> pb.StockLease:
        line = current_principal().line
        async with self._uow(line) as uow:
            lease = await leases.lease_stock(
                uow, sku_id=request.sku_id, quantity=request.quantity, lease_id=request.lease_id.lower()
            )
        return mapping.lease_to_proto(lease)

    async def ReturnStock(self, request: pb.ReturnStockRequest, context: grpc.aio.ServicerContext) -> pb.StockLease:
        line = current_principal().line
        async with self._uow(line) as uow:
            lease = await leases.return_stock(
                uow, sku_id=request.sku_id, quantity=request.quantity, lease_id=request.lease_id.lower()
            )
        return mapping.lease_to_proto(lease)
