"""Proto <-> domain for the catalog API: requests become prices, products and reservation items; products,
listings, stock, reservations, leases and pages of listings and merchants become answers."""

from __future__ import annotations

import json
from dataclasses import replace

import asyncpg
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.convert import LINE_TO_PROTO, timestamp
from libs.core import BusinessLine
from libs.core.ids import REFERENCE_ID
from libs.core.paging import INT8_MAX, Integer, PageShape, PageTokens, Text, page_shape
from services.catalog.domain.model import (
    DEFAULT_WINDOW_MINUTES,
    GroupRule,
    Listing,
    Prices,
    Product,
    Reservation,
    ReservationItem,
    ReservationState,
    Sku,
    StockLease,
    StockLevel,
)

# The listing as the API shows it is the one ListingChanged carries: one mapping, kept with the events.
from services.catalog.service_layer.announcements import listing_to_proto as listing_to_proto

# After (display price, sku id): a price is a positive bigint, a SKU id a catalog slug.
SEARCH_PAGE = page_shape(Integer(1, INT8_MAX), Text(REFERENCE_ID))
# After a merchant id (a catalog slug); bound to the belt filter.
MERCHANT_PAGE: PageShape[tuple[str]] = PageShape((Text(REFERENCE_ID),))

STATE_TO_PROTO = {
    ReservationState.RESERVED: pb.RESERVATION_STATE_RESERVED,
    ReservationState.COMMITTED: pb.RESERVATION_STATE_COMMITTED,
    ReservationState.RELEASED: pb.RESERVATION_STATE_RELEASED,
}


def _or_zero(value: int | None) -> int:
    return 0 if value is None else value


def _or_none(value: int) -> int | None:
    return value or None


def prices_from_proto(request: pb.UpsertListingRequest) -> Prices:
    if request.WhichOneof("price") == "mall":
        return Prices(price_minor=request.mall.price_minor, plus_price_minor=_or_none(request.mall.plus_price_minor))
    price, rule = request.pingou, request.pingou.rule
    return Prices(
        price_minor=price.solo_price_minor,
        group_price_minor=price.group_price_minor,
        leader_price_minor=_or_none(price.leader_price_minor),
        group_rule=replace(
            GroupRule(**{name: getattr(rule, name) for name in GroupRule.__dataclass_fields__}),
            window_minutes=rule.window_minutes or DEFAULT_WINDOW_MINUTES,
        ),
    )


def product_to_proto(product: Product) -> pb.Product:
    return pb.Product(
        product_id=product.product_id,
        merchant_id=product.merchant_id,
        category_id=product.category_id,
        belt_id=product.belt_id or "",
        factory_direct=product.factory_direct,
        title=product.title,
        description=product.description,
        image_urls=list(product.image_urls),
        attributes=product.attributes,
        skus=[
            pb.Sku(
                sku_id=sku.sku_id,
                product_id=sku.product_id,
                title=sku.title,
                attributes=sku.attributes,
                image_url=sku.image_url,
            )
            for sku in product.skus
        ],
    )


def product_from_proto(request: pb.CreateProductRequest) -> Product:
    return Product(
        product_id="",
        merchant_id=request.merchant_id,
        category_id=request.category_id,
        belt_id=request.belt_id or None,
        factory_direct=request.factory_direct,
        title=request.title,
        description=request.description,
        image_urls=tuple(request.image_urls),
        attributes=dict(request.attributes),
        skus=tuple(Sku("", "", sku.title, dict(sku.attributes), sku.image_url) for sku in request.skus),
    )


def reservation_to_proto(reservation: Reservation) -> pb.Reservation:
    return pb.Reservation(
        order_id=reservation.order_id,
        line=LINE_TO_PROTO[reservation.line],
        items=[pb.ReservationItem(sku_id=i.sku_id, quantity=i.quantity) for i in reservation.items],
        state=STATE_TO_PROTO[reservation.state],
        expires_at=timestamp(reservation.expires_at),
    )


def items_from_proto(items: list[pb.ReservationItem]) -> list[ReservationItem]:
    return [ReservationItem(item.sku_id, item.quantity) for item in items]


def stock_to_proto(line: BusinessLine, sku_id: str, stock: StockLevel) -> pb.Stock:
    return pb.Stock(
        line=LINE_TO_PROTO[line],
        sku_id=sku_id,
        available=stock.available,
        reserved=stock.reserved,
        leased=stock.leased,
    )


def lease_to_proto(lease: StockLease) -> pb.StockLease:
    return pb.StockLease(
        lease_id=lease.lease_id,
        sku_id=lease.sku_id,
        line=LINE_TO_PROTO[lease.line],
        quantity=lease.quantity,
        leased=lease.leased,
    )


# --- the shared tables: belts, categories, merchants


def belt_to_proto(row: asyncpg.Record) -> pb.Belt:
    return pb.Belt(**dict(row))


def category_to_proto(row: asyncpg.Record) -> pb.Category:
    return pb.Category(category_id=row["category_id"], name=row["name"], parent_id=row["parent_id"] or "")


def merchant_to_proto(row: asyncpg.Record) -> pb.Merchant:
    return pb.Merchant(
        merchant_id=row["merchant_id"],
        name=row["name"],
        belt_id=row["belt_id"] or "",
        factory_direct=row["factory_direct"],
    )


# --- page tokens: signed, bound to the filters they were made for


def merchants_scope(request: pb.ListMerchantsRequest) -> str:
    """What ListMerchants' page tokens are bound to: the belt filter."""
    return f"merchants:{request.belt_id}"


def merchants_after(token: str, scope: str, tokens: PageTokens) -> str | None:
    """The merchant id a page starts after; None for the first page."""
    after = tokens.decode(MERCHANT_PAGE, token, scope=scope) if token else None
    return after and after[0]


def merchants_page(rows: list[asyncpg.Record], size: int, scope: str, tokens: PageTokens) -> pb.ListMerchantsResponse:
    """The first `size` of `rows` (asked for one more, to know whether a next page exists)."""
    page = rows[:size]
    token = tokens.encode(MERCHANT_PAGE, (page[-1]["merchant_id"],), scope=scope) if rows[size:] else ""
    return pb.ListMerchantsResponse(merchants=[merchant_to_proto(row) for row in page], next_page_token=token)


def search_scope(request: pb.SearchListingsRequest) -> str:
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


def search_after(token: str, scope: str, tokens: PageTokens) -> tuple[int, str] | None:
    return tokens.decode(SEARCH_PAGE, token, scope=scope) if token else None


def search_page(found: list[Listing], size: int, scope: str, tokens: PageTokens) -> pb.SearchListingsResponse:
    """The first `size` of `found` (asked for one more); the next page starts after the last one's display
    price (its group price, else its price) and SKU id."""
    page = found[:size]
    token = ""
    if len(found) > size:
        last = page[-1]
        price = last.prices.group_price_minor or last.prices.price_minor
        token = tokens.encode(SEARCH_PAGE, (price, last.sku_id), scope=scope)
    return pb.SearchListingsResponse(listings=[listing_to_proto(item) for item in page], next_page_token=token)
