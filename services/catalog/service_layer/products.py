"""Use cases of products and listings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pingou.catalog.v1 import catalog_pb2 as pb

from libs.core import FailedPrecondition, NotFound
from services.catalog.domain.model import Listing, Prices, Product, Sku, check_prices
from services.catalog.service_layer.announcements import listing_to_proto
from services.catalog.service_layer.unit_of_work import LISTING_AGGREGATE, UnitOfWork


def new_product_id() -> str:
    return f"spu-{uuid.uuid4().hex[:16]}"


def new_sku_id() -> str:
    return f"sku-{uuid.uuid4().hex[:16]}"


async def create_product(uow: UnitOfWork, product: Product) -> Product:
    """Adds a product and its SKUs (ids are issued here); the references must exist."""
    if not await uow.catalog.merchant_exists(product.merchant_id):
        raise FailedPrecondition(f"no merchant {product.merchant_id}", reason="UNKNOWN_MERCHANT")
    if not await uow.catalog.reference_exists("categories", "category_id", product.category_id):
        raise FailedPrecondition(f"no category {product.category_id}", reason="UNKNOWN_CATEGORY")
    if product.belt_id and not await uow.catalog.reference_exists("belts", "belt_id", product.belt_id):
        raise FailedPrecondition(f"no industrial belt {product.belt_id}", reason="UNKNOWN_BELT")
    product_id = product.product_id or new_product_id()
    issued = Product(
        **{
            **{name: getattr(product, name) for name in Product.__dataclass_fields__},
            "product_id": product_id,
            "skus": tuple(
                Sku(sku.sku_id or new_sku_id(), product_id, sku.title, sku.attributes, sku.image_url)
                for sku in product.skus
            ),
        }
    )
    await uow.catalog.add_product(issued)
    return issued


async def get_products(uow: UnitOfWork, product_ids: Sequence[str]) -> list[Product]:
    return await uow.catalog.products(product_ids)


async def product_merchant(uow: UnitOfWork, sku_id: str) -> str:
    sku = await uow.catalog.sku_with_product(sku_id)
    if sku is None:
        raise NotFound(f"no SKU {sku_id}", reason="SKU_NOT_FOUND")
    return str(sku["merchant_id"])


async def upsert_listing(uow: UnitOfWork, *, sku_id: str, prices: Prices) -> Listing:
    check_prices(uow.line, prices)
    sku = await uow.catalog.sku_with_product(sku_id)
    if sku is None:
        raise NotFound(f"no SKU {sku_id}", reason="SKU_NOT_FOUND")
    listing = await uow.catalog.upsert_listing(sku, prices)
    uow.publish(LISTING_AGGREGATE, sku_id, pb.ListingChanged(listing=listing_to_proto(listing)))
    return listing


async def remove_listing(uow: UnitOfWork, sku_id: str) -> Listing:
    listing = await uow.catalog.deactivate_listing(sku_id)
    if listing is None:
        raise NotFound(f"no {uow.line} listing of {sku_id}", reason="LISTING_NOT_FOUND")
    uow.publish(LISTING_AGGREGATE, sku_id, pb.ListingChanged(listing=listing_to_proto(listing)))
    return listing
