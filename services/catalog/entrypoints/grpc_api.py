"""The catalog's gRPC adapter: validation, authorization, proto <-> domain."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.catalog.v1 import catalog_pb2_grpc as pb_grpc

from libs.auth import Principal, Role, current_principal, require_line, require_role
from libs.convert import LINE_FROM_PROTO
from libs.core import BusinessLine, PermissionDenied
from libs.core.ids import REFERENCE_ID
from libs.core.paging import decode_page_token, encode_page_token
from libs.grpckit import Violations
from libs.grpckit.validation import Validator, nothing_to_validate
from services.catalog.domain import model
from services.catalog.entrypoints.mapping import (
    items_from_proto,
    listing_to_proto,
    prices_from_proto,
    product_from_proto,
    product_to_proto,
    reservation_to_proto,
)
from services.catalog.service_layer import inventory, products
from services.catalog.service_layer.unit_of_work import UnitOfWork

SERVICE = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name
CATALOG_EDITORS = (Role.OPERATOR, Role.MERCHANT)
MAX_BATCH = 100
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 100, 20
MAX_STOCK = 10_000_000
DEFAULT_HOLD_SECONDS = 1200
# A group order keeps its stock until the group ends: a 7-day window at most, plus a day of margin.
MAX_HOLD_SECONDS = 8 * 86400
URL = re.compile(r"^https://[^\s]{1,500}$")


# --- validation (shape only)


def _line(problems: Violations, value: int) -> None:
    problems.enum("line", value, allowed=LINE_FROM_PROTO)


def _reference(problems: Violations, field: str, value: str, *, required: bool = True) -> None:
    if (value or required) and not REFERENCE_ID.match(value):
        problems.add(field, "is required" if not value else "is not an id (lower-case letters, digits, '-')")


def _ids(problems: Violations, field: str, values: list[str]) -> None:
    if not 1 <= len(values) <= MAX_BATCH:
        problems.add(field, f"must name 1 to {MAX_BATCH} ids")
    for index, value in enumerate(values):
        _reference(problems, f"{field}[{index}]", value)


def _attributes(problems: Violations, field: str, attributes: Mapping[str, str]) -> None:
    if len(attributes) > model.MAX_ATTRIBUTES:
        problems.add(field, f"has more than {model.MAX_ATTRIBUTES} entries")
    for key, value in attributes.items():
        if not 0 < len(key) <= 32 or len(value) > 200:
            problems.add(f"{field}[{key[:32]}]", "keys are 1 to 32 characters, values at most 200")


def validate_create_product(request: pb.CreateProductRequest) -> None:
    problems = Violations()
    _reference(problems, "merchant_id", request.merchant_id)
    _reference(problems, "category_id", request.category_id)
    _reference(problems, "belt_id", request.belt_id, required=False)
    problems.text("title", request.title, max_length=model.MAX_TITLE_LENGTH)
    problems.text("description", request.description, min_length=0, max_length=model.MAX_DESCRIPTION_LENGTH)
    if len(request.image_urls) > model.MAX_IMAGES:
        problems.add("image_urls", f"has more than {model.MAX_IMAGES} entries")
    for index, url in enumerate(request.image_urls):
        if not URL.match(url):
            problems.add(f"image_urls[{index}]", "is not an https URL")
    _attributes(problems, "attributes", request.attributes)
    if not 1 <= len(request.skus) <= model.MAX_SKUS_PER_PRODUCT:
        problems.add("skus", f"must hold 1 to {model.MAX_SKUS_PER_PRODUCT} SKUs")
    for index, sku in enumerate(request.skus):
        problems.text(f"skus[{index}].title", sku.title, max_length=60)
        _attributes(problems, f"skus[{index}].attributes", sku.attributes)
        if sku.image_url and not URL.match(sku.image_url):
            problems.add(f"skus[{index}].image_url", "is not an https URL")
    problems.raise_if_any()


def validate_get_products(request: pb.GetProductsRequest) -> None:
    problems = Violations()
    _ids(problems, "product_ids", list(request.product_ids))
    problems.raise_if_any()


def validate_upsert_listing(request: pb.UpsertListingRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    if request.WhichOneof("price") is None:
        problems.add("price", "give mall or pingou prices")
    problems.raise_if_any()


def validate_line_and_sku(request: Any) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    problems.raise_if_any()


def validate_get_listings(request: pb.GetListingsRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _ids(problems, "sku_ids", list(request.sku_ids))
    problems.raise_if_any()


def validate_search(request: pb.SearchListingsRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    problems.text("query", request.query, min_length=0, max_length=50)
    _reference(problems, "category_id", request.category_id, required=False)
    _reference(problems, "belt_id", request.belt_id, required=False)
    problems.number("min_price_minor", request.min_price_minor, minimum=0, maximum=10**10)
    problems.number("max_price_minor", request.max_price_minor, minimum=0, maximum=10**10)
    if request.max_price_minor and request.max_price_minor < request.min_price_minor:
        problems.add("max_price_minor", "is below min_price_minor")
    problems.number("page_size", request.page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", request.page_token, min_length=0, max_length=200)
    problems.raise_if_any()


def validate_set_stock(request: pb.SetStockRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    problems.number("available", request.available, minimum=0, maximum=MAX_STOCK)
    problems.raise_if_any()


def _order_id(problems: Violations, value: str) -> None:
    problems.text("order_id", value, max_length=64)
    if value and not re.match(r"^[A-Za-z0-9_-]+$", value):
        problems.add("order_id", "may hold only letters, digits, '_' and '-'")


def validate_reserve(request: pb.ReserveStockRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _order_id(problems, request.order_id)
    if not 1 <= len(request.items) <= 50:
        problems.add("items", "must hold 1 to 50 items")
    skus = [item.sku_id for item in request.items]
    if len(set(skus)) != len(skus):
        problems.add("items", "names a SKU twice")
    for index, item in enumerate(request.items):
        _reference(problems, f"items[{index}].sku_id", item.sku_id)
        problems.number(f"items[{index}].quantity", item.quantity, minimum=1, maximum=999)
    if request.hold_seconds:
        problems.number("hold_seconds", request.hold_seconds, minimum=60, maximum=MAX_HOLD_SECONDS)
    problems.raise_if_any()


def validate_reservation(request: pb.ReservationRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _order_id(problems, request.order_id)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/ListBelts": nothing_to_validate,
    f"/{SERVICE}/ListCategories": nothing_to_validate,
    f"/{SERVICE}/CreateProduct": validate_create_product,
    f"/{SERVICE}/GetProducts": validate_get_products,
    f"/{SERVICE}/UpsertListing": validate_upsert_listing,
    f"/{SERVICE}/RemoveListing": validate_line_and_sku,
    f"/{SERVICE}/GetListings": validate_get_listings,
    f"/{SERVICE}/SearchListings": validate_search,
    f"/{SERVICE}/SetStock": validate_set_stock,
    f"/{SERVICE}/GetStock": validate_line_and_sku,
    f"/{SERVICE}/ReserveStock": validate_reserve,
    f"/{SERVICE}/CommitReservation": validate_reservation,
    f"/{SERVICE}/ReleaseReservation": validate_reservation,
}


# --- search page tokens: opaque, bound to the filters they were made for


def _search_scope(request: pb.SearchListingsRequest) -> str:
    """What a search's page tokens are bound to: its line and filters."""
    fields = [
        request.line,
        request.query,
        request.category_id,
        request.belt_id,
        request.factory_direct if request.HasField("factory_direct") else None,
        request.min_price_minor,
        request.max_price_minor,
    ]
    return "search:" + json.dumps(fields, ensure_ascii=False)


def _after(request: pb.SearchListingsRequest) -> tuple[int, str] | None:
    if not request.page_token:
        return None
    price, sku_id = decode_page_token(request.page_token, scope=_search_scope(request), shape=(int, str))
    return int(price), str(sku_id)


# --- the servicer


class CatalogServicer(pb_grpc.CatalogServiceServicer):
    def __init__(self, *, pools: Mapping[BusinessLine, asyncpg.Pool], topic_prefix: str):
        self._pools = pools
        self._prefix = topic_prefix

    def _uow(self, line: BusinessLine) -> UnitOfWork:
        return UnitOfWork(self._pools[line], line, topic_prefix=self._prefix)

    def _line(self, line: int, *roles: Role) -> BusinessLine:
        principal = current_principal()
        requested = LINE_FROM_PROTO[line]
        require_line(principal, requested)
        if roles:
            require_role(principal, *roles)
        return requested

    async def _require_editor_of(self, uow: UnitOfWork, principal: Principal, *, merchant_id: str) -> None:
        """Operators edit anything; a merchant only its own products."""
        if principal.has_role(Role.OPERATOR):
            return
        require_role(principal, Role.MERCHANT)
        if principal.subject != merchant_id:
            raise PermissionDenied("a merchant edits only its own products", reason="NOT_YOUR_PRODUCT")

    async def ListBelts(self, request: pb.ListBeltsRequest, context: grpc.aio.ServicerContext) -> pb.ListBeltsResponse:
        async with self._uow(current_principal().line) as uow:
            rows = await uow.catalog.belts()
        return pb.ListBeltsResponse(belts=[pb.Belt(**dict(row)) for row in rows])

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCategoriesResponse:
        async with self._uow(current_principal().line) as uow:
            rows = await uow.catalog.categories()
        return pb.ListCategoriesResponse(
            categories=[
                pb.Category(category_id=r["category_id"], name=r["name"], parent_id=r["parent_id"] or "") for r in rows
            ]
        )

    async def CreateProduct(self, request: pb.CreateProductRequest, context: grpc.aio.ServicerContext) -> pb.Product:
        principal = current_principal()
        async with self._uow(principal.line) as uow:
            await self._require_editor_of(uow, principal, merchant_id=request.merchant_id)
            product = await products.create_product(uow, product_from_proto(request))
        return product_to_proto(product)

    async def GetProducts(
        self, request: pb.GetProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProductsResponse:
        async with self._uow(current_principal().line) as uow:
            found = await products.get_products(uow, list(request.product_ids))
        return pb.GetProductsResponse(products=[product_to_proto(product) for product in found])

    async def UpsertListing(self, request: pb.UpsertListingRequest, context: grpc.aio.ServicerContext) -> pb.Listing:
        principal = current_principal()
        line = self._line(request.line)
        async with self._uow(line) as uow:
            merchant = await products.product_merchant(uow, request.sku_id)
            await self._require_editor_of(uow, principal, merchant_id=merchant)
            listing = await products.upsert_listing(uow, sku_id=request.sku_id, prices=prices_from_proto(request))
        return listing_to_proto(listing)

    async def RemoveListing(self, request: pb.RemoveListingRequest, context: grpc.aio.ServicerContext) -> pb.Listing:
        principal = current_principal()
        line = self._line(request.line)
        async with self._uow(line) as uow:
            merchant = await products.product_merchant(uow, request.sku_id)
            await self._require_editor_of(uow, principal, merchant_id=merchant)
            listing = await products.remove_listing(uow, request.sku_id)
        return listing_to_proto(listing)

    async def GetListings(
        self, request: pb.GetListingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetListingsResponse:
        line = self._line(request.line)
        async with self._uow(line) as uow:
            found = await uow.catalog.listings(list(request.sku_ids))
        return pb.GetListingsResponse(listings=[listing_to_proto(listing) for listing in found])

    async def SearchListings(
        self, request: pb.SearchListingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchListingsResponse:
        line = self._line(request.line)
        after = _after(request)
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
        page = found[:size]
        token = ""
        if len(found) > size:
            last = page[-1]
            price = last.prices.group_price_minor or last.prices.price_minor
            token = encode_page_token([price, last.sku_id], scope=_search_scope(request))
        return pb.SearchListingsResponse(listings=[listing_to_proto(item) for item in page], next_page_token=token)

    async def SetStock(self, request: pb.SetStockRequest, context: grpc.aio.ServicerContext) -> pb.Stock:
        line = self._line(request.line, Role.OPERATOR)
        async with self._uow(line) as uow:
            available, reserved = await inventory.set_stock(uow, sku_id=request.sku_id, available=request.available)
        return pb.Stock(line=request.line, sku_id=request.sku_id, available=available, reserved=reserved)

    async def GetStock(self, request: pb.GetStockRequest, context: grpc.aio.ServicerContext) -> pb.Stock:
        line = self._line(request.line)
        async with self._uow(line) as uow:
            available, reserved = await inventory.get_stock(uow, request.sku_id)
        return pb.Stock(line=request.line, sku_id=request.sku_id, available=available, reserved=reserved)

    async def ReserveStock(self, request: pb.ReserveStockRequest, context: grpc.aio.ServicerContext) -> pb.Reservation:
        line = self._line(request.line, Role.SERVICE)
        reservation = await inventory.reserve_stock(
            lambda: self._uow(line),
            order_id=request.order_id,
            items=items_from_proto(list(request.items)),
            hold=timedelta(seconds=request.hold_seconds or DEFAULT_HOLD_SECONDS),
        )
        return reservation_to_proto(reservation)

    async def CommitReservation(
        self, request: pb.ReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        line = self._line(request.line, Role.SERVICE)
        async with self._uow(line) as uow:
            return reservation_to_proto(await inventory.commit(uow, request.order_id))

    async def ReleaseReservation(
        self, request: pb.ReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        line = self._line(request.line, Role.SERVICE)
        async with self._uow(line) as uow:
            return reservation_to_proto(await inventory.release(uow, request.order_id))
