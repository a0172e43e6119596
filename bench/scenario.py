"""What the load runs over, set up through the platform's public API as an operator would: SKUs of the
benchmark's own (a demo merchant's products, groups of 50, ample stock), buyers registered on the pingou
line (as every real buyer is: segmentation builds their profiles from the join's events), groups opened
on them, and one join request per buyer, spread round robin over the groups."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from pingou.catalog.v1 import catalog_pb2 as catalog
from pingou.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from pingou.common.v1 import common_pb2 as common
from pingou.groupbuy.v1 import groupbuy_pb2 as groupbuy
from pingou.groupbuy.v1 import groupbuy_pb2_grpc as groupbuy_grpc
from pingou.order.v1 import order_pb2 as order
from pingou.segmentation.v1 import segmentation_pb2 as segmentation
from pingou.segmentation.v1 import segmentation_pb2_grpc as segmentation_grpc

GROUP_SIZE = 50
JOINS_PER_GROUP = GROUP_SIZE - 1  # the leader holds the first seat
STOCK_PER_SKU = 10_000_000  # catalog's most; joins never run a bench SKU dry
GROUP_PRICE_MINOR = 990
OPENING_CONCURRENCY = 32
# Where the bench's buyers live (cities of tiers 2 to 5), and how they come: mostly the mini program.
CITIES = ("临沂", "菏泽", "徐州", "赣州", "南阳", "商丘")
PINGOU = common.BUSINESS_LINE_PINGOU


@dataclass(frozen=True)
class Groups:
    sku_ids: tuple[str, ...]
    group_ids: tuple[str, ...]


def _metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def create_skus(address: str, token: str, *, run: str, count: int) -> list[str]:
    """`count` SKUs of one new product of a demo merchant, each listed on pingou with stock."""
    metadata = _metadata(token)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = catalog_grpc.CatalogServiceStub(channel)
        found = await stub.SearchListings(
            catalog.SearchListingsRequest(line=PINGOU, page_size=1), metadata=metadata, timeout=10
        )
        if not found.listings:
            raise RuntimeError("the catalog has no pingou listing to borrow a merchant from (is the demo seeded?)")
        products = await stub.GetProducts(
            catalog.GetProductsRequest(product_ids=[found.listings[0].product_id]), metadata=metadata, timeout=10
        )
        template = products.products[0]
        product = await stub.CreateProduct(
            catalog.CreateProductRequest(
                merchant_id=template.merchant_id,
                category_id=template.category_id,
                belt_id=template.belt_id,
                title=f"bench {run}",
                skus=[catalog.Sku(title=f"variant {index}") for index in range(count)],
            ),
            metadata=metadata,
            timeout=10,
        )
        sku_ids = [sku.sku_id for sku in product.skus]
        rule = catalog.GroupRule(
            size=GROUP_SIZE, window_minutes=1440, per_user_limit=0, strangers_can_join=True, auto_match=True
        )
        for sku_id in sku_ids:
            await stub.UpsertListing(
                catalog.UpsertListingRequest(
                    line=PINGOU,
                    sku_id=sku_id,
                    pingou=catalog.PingouPrice(solo_price_minor=1990, group_price_minor=GROUP_PRICE_MINOR, rule=rule),
                ),
                metadata=metadata,
                timeout=10,
            )
            await stub.SetStock(
                catalog.SetStockRequest(line=PINGOU, sku_id=sku_id, available=STOCK_PER_SKU),
                metadata=metadata,
                timeout=10,
            )
    return sku_ids


async def register_buyers(address: str, token: str, *, count: int) -> list[str]:
    """`count` new pingou accounts, registered as the app registers its users; their ids."""
    metadata = _metadata(token)
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = segmentation_grpc.SegmentationServiceStub(channel)

        async def register(index: int) -> str:
            request = segmentation.RegisterUserRequest(
                city=CITIES[index % len(CITIES)], channel=segmentation.CHANNEL_WECHAT_MINI_PROGRAM
            )
            async with gate:
                user = await stub.RegisterUser(request, metadata=metadata, timeout=30)
            return str(user.user_id)

        return list(await asyncio.gather(*(register(index) for index in range(count))))


async def open_groups(address: str, token: str, *, leaders: Sequence[str], sku_ids: Sequence[str], run: str) -> Groups:
    """A group per leader, spread over the SKUs."""
    metadata = _metadata(token)
    skus = itertools.cycle(sku_ids)
    requests = [
        groupbuy.OpenGroupRequest(
            buyer=groupbuy.Buyer(
                user_id=leader,
                shipping_city="临沂",
                channel=order.CHANNEL_WECHAT_MINI_PROGRAM,
                idempotency_key=f"bench-open-{run}",
            ),
            sku_id=next(skus),
        )
        for leader in leaders
    ]
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = groupbuy_grpc.GroupbuyServiceStub(channel)

        async def open_one(request: groupbuy.OpenGroupRequest) -> str:
            async with gate:
                result = await stub.OpenGroup(request, metadata=metadata, timeout=30)
            return str(result.group.group_id)

        group_ids = await asyncio.gather(*(open_one(request) for request in requests))
    return Groups(tuple(sku_ids), tuple(group_ids))


def join_messages(groups: Groups, buyers: Sequence[str], *, run: str, first: int = 0) -> list[dict[str, Any]]:
    """One JoinGroup message per buyer (sent once each, in order, by ghz), the groups taken round robin
    from the `first`-th join on, so that runs one after another over the same groups fill them evenly."""
    return [
        {
            "buyer": {
                "user_id": buyer,
                "shipping_city": CITIES[index % len(CITIES)],
                "channel": "CHANNEL_WECHAT_MINI_PROGRAM",
                "idempotency_key": f"bench-join-{run}",
            },
            "group_id": groups.group_ids[(first + index) % len(groups.group_ids)],
        }
        for index, buyer in enumerate(buyers)
    ]


def get_messages(groups: Groups) -> list[dict[str, Any]]:
    return [{"group_id": group_id} for group_id in groups.group_ids]
