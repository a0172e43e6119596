"""Setting up what a test sells: a fresh product with one SKU, listed on a line, with stock."""

from __future__ import annotations

import uuid

from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.catalog.v1 import catalog_pb2_grpc as pb_grpc

from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine

Metadata = list[tuple[str, str]]


async def listed_sku(
    stub: pb_grpc.CatalogServiceStub,
    operator: Metadata,
    line: BusinessLine,
    *,
    stock: int,
    price: int = 1990,
    plus_price: int = 0,
    group_price: int = 1590,
) -> str:
    """A fresh product with one SKU, listed on `line` (mall: `price`, `plus_price`; pingou: solo `price`,
    `group_price`, groups of 3) with `stock` available. `operator` is an operator token's metadata."""
    product = await stub.CreateProduct(
        pb.CreateProductRequest(
            merchant_id="m-yiwu-goods-trade",
            category_id="daily",
            title=f"测试商品 {uuid.uuid4().hex[:6]}",
            skus=[pb.Sku(title="标准")],
        ),
        metadata=operator,
    )
    sku_id: str = product.skus[0].sku_id
    listing = pb.UpsertListingRequest(line=LINE_TO_PROTO[line], sku_id=sku_id)
    if line is BusinessLine.MALL:
        listing.mall.CopyFrom(pb.MallPrice(price_minor=price, plus_price_minor=plus_price))
    else:
        listing.pingou.CopyFrom(
            pb.PingouPrice(solo_price_minor=price, group_price_minor=group_price, rule=pb.GroupRule(size=3))
        )
    await stub.UpsertListing(listing, metadata=operator)
    await stub.SetStock(pb.SetStockRequest(line=LINE_TO_PROTO[line], sku_id=sku_id, available=stock), metadata=operator)
    return sku_id
