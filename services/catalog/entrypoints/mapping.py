"""Proto <-> domain for the catalog."""

from __future__ import annotations

from dataclasses import replace

from pingou.catalog.v1 import catalog_pb2 as pb

from libs.convert import LINE_TO_PROTO, timestamp
from libs.core import BusinessLine
from services.catalog.domain.model import (
    DEFAULT_WINDOW_MINUTES,
    GroupRule,
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
