"""Products, listings per line, browse and search, the demo catalog, isolation and bad input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit.errors import reason_of
from tests.integration.catalog.conftest import PROTO_LINE, Catalog

pytestmark = pytest.mark.infra
MALL, PINGOU = BusinessLine.MALL, BusinessLine.PINGOU


async def search_all(catalog: Catalog, line: BusinessLine, page_size: int = 37, **filters: object) -> list[pb.Listing]:
    found, token = [], ""
    while True:
        reply = await catalog.stub.SearchListings(
            pb.SearchListingsRequest(line=PROTO_LINE[line], page_size=page_size, page_token=token, **filters),  # type: ignore[arg-type]  # filters are the request's own fields
            metadata=catalog.token(line, Role.USER),
        )
        found.extend(reply.listings)
        token = reply.next_page_token
        if not token:
            return found


async def test_the_demo_catalog_spans_belts_categories_and_both_lines(catalog: Catalog) -> None:
    belts = await catalog.stub.ListBelts(pb.ListBeltsRequest(), metadata=catalog.token(MALL, Role.USER))
    assert len(belts.belts) >= 10
    assert {"caoxian-hanfu", "yiwu-goods", "dehua-ceramics"} <= {belt.belt_id for belt in belts.belts}
    mall = await search_all(catalog, MALL, page_size=100)
    pingou = await search_all(catalog, PINGOU, page_size=100)
    assert len(mall) >= 300
    listed_on_both = await catalog.fetchval(
        "SELECT count(*) FROM catalog_mall.listings m JOIN catalog_pingou.listings p USING (sku_id)"
    )
    assert listed_on_both >= 300
    assert any(listing.mall.plus_price_minor for listing in mall)
    assert any(listing.factory_direct for listing in mall)
    assert all(listing.pingou.group_price_minor < listing.pingou.solo_price_minor for listing in pingou)
    assert len({listing.category_id for listing in mall}) >= 8


async def test_search_pages_are_complete_ordered_and_stable(catalog: Catalog) -> None:
    pages_of_7 = [
        listing.sku_id for listing in await search_all(catalog, PINGOU, page_size=7, belt_id="jinjiang-shoes")
    ]
    in_one = [listing.sku_id for listing in await search_all(catalog, PINGOU, page_size=100, belt_id="jinjiang-shoes")]
    assert pages_of_7 == in_one
    assert len(in_one) == len(set(in_one)) > 20
    prices = [
        listing.pingou.group_price_minor for listing in await search_all(catalog, PINGOU, belt_id="jinjiang-shoes")
    ]
    assert prices == sorted(prices)


async def test_filters_narrow_by_category_belt_factory_and_price(catalog: Catalog) -> None:
    apparel = await search_all(catalog, MALL, category_id="apparel")  # a parent category takes its children
    assert {listing.category_id for listing in apparel} == {"hanfu", "kids-wear"}
    factory = await search_all(catalog, MALL, belt_id="yongkang-hardware", factory_direct=True)
    assert factory
    assert all(listing.factory_direct and listing.belt_id == "yongkang-hardware" for listing in factory)
    cheap = await search_all(catalog, MALL, min_price_minor=1000, max_price_minor=3000)
    assert cheap
    assert all(1000 <= listing.mall.price_minor <= 3000 for listing in cheap)
    words = await search_all(catalog, MALL, query="马面裙")
    assert words
    assert all("马面裙" in listing.title for listing in words)
    assert await search_all(catalog, MALL, query="100%_\\") == []


async def test_a_page_token_works_only_for_its_own_search(catalog: Catalog) -> None:
    first = await catalog.stub.SearchListings(
        pb.SearchListingsRequest(line=PROTO_LINE[MALL], page_size=2, belt_id="baigou-bags"),
        metadata=catalog.token(MALL, Role.USER),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.SearchListings(
            pb.SearchListingsRequest(
                line=PROTO_LINE[MALL], page_size=2, belt_id="dehua-ceramics", page_token=first.next_page_token
            ),
            metadata=catalog.token(MALL, Role.USER),
        )
    assert (caught.value.code(), reason_of(caught.value)) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_merchants_are_listed_by_id_page_by_page_and_by_belt(catalog: Catalog) -> None:
    async def merchants(page_size: int, **filters: str) -> list[pb.Merchant]:
        found, token = [], ""
        while True:
            reply = await catalog.stub.ListMerchants(
                pb.ListMerchantsRequest(page_size=page_size, page_token=token, **filters),
                metadata=catalog.token(PINGOU, Role.USER),
            )
            found.extend(reply.merchants)
            token = reply.next_page_token
            if not token:
                return found

    every = await merchants(100)
    ids = [merchant.merchant_id for merchant in every]
    assert ids == sorted(ids)
    assert len(ids) == await catalog.fetchval("SELECT count(*) FROM catalog.merchants") >= 20
    assert [merchant.merchant_id for merchant in await merchants(7)] == ids
    hanfu = await merchants(1, belt_id="caoxian-hanfu")
    assert {(m.merchant_id, m.factory_direct) for m in hanfu} == {
        ("m-caoxian-hanfu-factory", True),
        ("m-caoxian-hanfu-trade", False),
    }
    assert all(merchant.belt_id == "caoxian-hanfu" and merchant.name for merchant in hanfu)
    first = await catalog.stub.ListMerchants(
        pb.ListMerchantsRequest(page_size=1, belt_id="caoxian-hanfu"), metadata=catalog.token(PINGOU, Role.USER)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # a token of one belt's listing is no good for another's
        await catalog.stub.ListMerchants(
            pb.ListMerchantsRequest(belt_id="yiwu-goods", page_token=first.next_page_token),
            metadata=catalog.token(PINGOU, Role.USER),
        )
    assert (caught.value.code(), reason_of(caught.value)) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_products_batch_get_and_listing_versions(catalog: Catalog) -> None:
    got = await catalog.stub.GetProducts(
        pb.GetProductsRequest(product_ids=["spu-caoxian-hanfu-1", "spu-wuchang-rice-1", "spu-nope"]),
        metadata=catalog.token(MALL, Role.USER),
    )
    assert sorted(product.product_id for product in got.products) == ["spu-caoxian-hanfu-1", "spu-wuchang-rice-1"]
    sku_id = got.products[0].skus[0].sku_id
    operator = catalog.token(MALL, Role.OPERATOR)
    before = (
        await catalog.stub.GetListings(
            pb.GetListingsRequest(line=PROTO_LINE[MALL], sku_ids=[sku_id]), metadata=operator
        )
    ).listings[0]
    request = pb.UpsertListingRequest(
        line=PROTO_LINE[MALL], sku_id=sku_id, mall=pb.MallPrice(price_minor=18800, plus_price_minor=17800)
    )
    after = await catalog.stub.UpsertListing(request, metadata=operator)
    assert (after.version, after.mall.price_minor, after.mall.plus_price_minor) == (before.version + 1, 18800, 17800)
    removed = await catalog.stub.RemoveListing(
        pb.RemoveListingRequest(line=PROTO_LINE[MALL], sku_id=sku_id), metadata=operator
    )
    assert not removed.active
    assert sku_id not in {listing.sku_id for listing in await search_all(catalog, MALL, belt_id="caoxian-hanfu")}


async def test_a_merchant_edits_only_its_own_products(catalog: Catalog) -> None:
    own = catalog.token(MALL, Role.MERCHANT, subject="m-dehua-ceramics-factory")
    product = await catalog.stub.CreateProduct(
        pb.CreateProductRequest(
            merchant_id="m-dehua-ceramics-factory",
            category_id="kitchen",
            belt_id="dehua-ceramics",
            factory_direct=True,
            title="白瓷茶杯",
            skus=[pb.Sku(title="单只")],
        ),
        metadata=own,
    )
    assert product.skus[0].sku_id.startswith("sku-")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.CreateProduct(
            pb.CreateProductRequest(
                merchant_id="m-yiwu-goods-trade", category_id="daily", title="冒名商品", skus=[pb.Sku(title="单只")]
            ),
            metadata=own,
        )
    assert reason_of(caught.value) == "NOT_YOUR_PRODUCT"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.UpsertListing(
            pb.UpsertListingRequest(
                line=PROTO_LINE[MALL], sku_id="sku-yiwu-goods-1-1", mall=pb.MallPrice(price_minor=1)
            ),
            metadata=own,
        )
    assert reason_of(caught.value) == "NOT_YOUR_PRODUCT"


Call = Callable[[Catalog, list[tuple[str, str]]], Awaitable[object]]
OTHER_LINE_CALLS: dict[str, Call] = {
    "UpsertListing": lambda c, md: c.stub.UpsertListing(
        pb.UpsertListingRequest(line=PROTO_LINE[MALL], sku_id="sku-yiwu-goods-1-1", mall=pb.MallPrice(price_minor=1)),
        metadata=md,
    ),
    "RemoveListing": lambda c, md: c.stub.RemoveListing(
        pb.RemoveListingRequest(line=PROTO_LINE[MALL], sku_id="sku-yiwu-goods-1-1"), metadata=md
    ),
    "GetListings": lambda c, md: c.stub.GetListings(
        pb.GetListingsRequest(line=PROTO_LINE[MALL], sku_ids=["sku-yiwu-goods-1-1"]), metadata=md
    ),
    "SearchListings": lambda c, md: c.stub.SearchListings(pb.SearchListingsRequest(line=PROTO_LINE[MALL]), metadata=md),
    "SetStock": lambda c, md: c.stub.SetStock(
        pb.SetStockRequest(line=PROTO_LINE[MALL], sku_id="sku-yiwu-goods-1-1", available=1), metadata=md
    ),
    "GetStock": lambda c, md: c.stub.GetStock(
        pb.GetStockRequest(line=PROTO_LINE[MALL], sku_id="sku-yiwu-goods-1-1"), metadata=md
    ),
    "ReserveStock": lambda c, md: c.stub.ReserveStock(
        pb.ReserveStockRequest(
            line=PROTO_LINE[MALL], order_id="o-x", items=[pb.ReservationItem(sku_id="sku-yiwu-goods-1-1", quantity=1)]
        ),
        metadata=md,
    ),
    "CommitReservation": lambda c, md: c.stub.CommitReservation(
        pb.ReservationRequest(line=PROTO_LINE[MALL], order_id="o-x"), metadata=md
    ),
    "ReleaseReservation": lambda c, md: c.stub.ReleaseReservation(
        pb.ReservationRequest(line=PROTO_LINE[MALL], order_id="o-x"), metadata=md
    ),
}


@pytest.mark.parametrize("rpc", sorted(OTHER_LINE_CALLS))
async def test_a_pingou_token_cannot_touch_mall_listings_or_stock(catalog: Catalog, rpc: str) -> None:
    intruder = catalog.token(PINGOU, Role.OPERATOR)
    before = await catalog.stock(MALL, "sku-yiwu-goods-1-1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await OTHER_LINE_CALLS[rpc](catalog, intruder)
    assert (caught.value.code(), reason_of(caught.value)) == (grpc.StatusCode.PERMISSION_DENIED, "LINE_MISMATCH")
    assert await catalog.stock(MALL, "sku-yiwu-goods-1-1") == before


BAD: dict[str, tuple[Call, str]] = {
    "product without skus or title": (
        lambda c, md: c.stub.CreateProduct(
            pb.CreateProductRequest(merchant_id="m-yiwu-goods-trade", category_id="daily"), metadata=md
        ),
        "skus",
    ),
    "product with a non-https image": (
        lambda c, md: c.stub.CreateProduct(
            pb.CreateProductRequest(
                merchant_id="m-yiwu-goods-trade",
                category_id="daily",
                title="t",
                image_urls=["http://x/y.jpg"],
                skus=[pb.Sku(title="a")],
            ),
            metadata=md,
        ),
        "image_urls[0]",
    ),
    "product of an unknown category": (
        lambda c, md: c.stub.CreateProduct(
            pb.CreateProductRequest(
                merchant_id="m-yiwu-goods-trade", category_id="no-such", title="t", skus=[pb.Sku(title="a")]
            ),
            metadata=md,
        ),
        "UNKNOWN_CATEGORY",
    ),
    "get products with no ids": (lambda c, md: c.stub.GetProducts(pb.GetProductsRequest(), metadata=md), "product_ids"),
    "listing with no line": (
        lambda c, md: c.stub.UpsertListing(
            pb.UpsertListingRequest(sku_id="sku-yiwu-goods-1-1", mall=pb.MallPrice(price_minor=100)), metadata=md
        ),
        "line",
    ),
    "listing without prices": (
        lambda c, md: c.stub.UpsertListing(
            pb.UpsertListingRequest(line=PROTO_LINE[PINGOU], sku_id="sku-yiwu-goods-1-1"), metadata=md
        ),
        "price",
    ),
    "group price above the solo price": (
        lambda c, md: c.stub.UpsertListing(
            pb.UpsertListingRequest(
                line=PROTO_LINE[PINGOU],
                sku_id="sku-yiwu-goods-1-1",
                pingou=pb.PingouPrice(solo_price_minor=1000, group_price_minor=1200, rule=pb.GroupRule(size=3)),
            ),
            metadata=md,
        ),
        "pingou.group_price_minor",
    ),
    "group of 51": (
        lambda c, md: c.stub.UpsertListing(
            pb.UpsertListingRequest(
                line=PROTO_LINE[PINGOU],
                sku_id="sku-yiwu-goods-1-1",
                pingou=pb.PingouPrice(solo_price_minor=1000, group_price_minor=800, rule=pb.GroupRule(size=51)),
            ),
            metadata=md,
        ),
        "pingou.rule.size",
    ),
    "mall prices on a pingou listing": (
        lambda c, md: c.stub.UpsertListing(
            pb.UpsertListingRequest(
                line=PROTO_LINE[PINGOU], sku_id="sku-yiwu-goods-1-1", mall=pb.MallPrice(price_minor=100)
            ),
            metadata=md,
        ),
        "pingou",
    ),
    "search with inverted prices": (
        lambda c, md: c.stub.SearchListings(
            pb.SearchListingsRequest(line=PROTO_LINE[PINGOU], min_price_minor=500, max_price_minor=100), metadata=md
        ),
        "max_price_minor",
    ),
    "search with a forged token": (
        lambda c, md: c.stub.SearchListings(
            pb.SearchListingsRequest(line=PROTO_LINE[PINGOU], page_token="Zm9v"), metadata=md
        ),
        "INVALID_PAGE_TOKEN",
    ),
    "negative stock": (
        lambda c, md: c.stub.SetStock(
            pb.SetStockRequest(line=PROTO_LINE[PINGOU], sku_id="sku-yiwu-goods-1-1", available=-1), metadata=md
        ),
        "available",
    ),
    "reservation of nothing": (
        lambda c, md: c.stub.ReserveStock(
            pb.ReserveStockRequest(line=PROTO_LINE[PINGOU], order_id="o-bad"), metadata=md
        ),
        "items",
    ),
    "reservation of zero and a SKU twice": (
        lambda c, md: c.stub.ReserveStock(
            pb.ReserveStockRequest(
                line=PROTO_LINE[PINGOU],
                order_id="o-bad",
                items=[
                    pb.ReservationItem(sku_id="sku-yiwu-goods-1-1", quantity=0),
                    pb.ReservationItem(sku_id="sku-yiwu-goods-1-1", quantity=1),
                ],
            ),
            metadata=md,
        ),
        "items[0].quantity",
    ),
    "reservation with a bad order id": (
        lambda c, md: c.stub.ReserveStock(
            pb.ReserveStockRequest(
                line=PROTO_LINE[PINGOU],
                order_id="o bad!",
                items=[pb.ReservationItem(sku_id="sku-yiwu-goods-1-1", quantity=1)],
            ),
            metadata=md,
        ),
        "order_id",
    ),
    "get listings of no SKUs": (
        lambda c, md: c.stub.GetListings(pb.GetListingsRequest(line=PROTO_LINE[PINGOU]), metadata=md),
        "sku_ids",
    ),
    "remove the listing of a malformed SKU id": (
        lambda c, md: c.stub.RemoveListing(
            pb.RemoveListingRequest(line=PROTO_LINE[PINGOU], sku_id="Not An Id"), metadata=md
        ),
        "sku_id",
    ),
    "stock of no SKU": (
        lambda c, md: c.stub.GetStock(pb.GetStockRequest(line=PROTO_LINE[PINGOU]), metadata=md),
        "sku_id",
    ),
    "release with no line": (
        lambda c, md: c.stub.ReleaseReservation(pb.ReservationRequest(order_id="o-1"), metadata=md),
        "line",
    ),
    "commit with an empty order id": (
        lambda c, md: c.stub.CommitReservation(pb.ReservationRequest(line=PROTO_LINE[PINGOU]), metadata=md),
        "order_id",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_names_the_problem_and_writes_nothing(catalog: Catalog, case: str) -> None:
    call, expected = BAD[case]

    async def counts() -> tuple[int, ...]:
        tables = ("catalog.products", "catalog.skus", "catalog_pingou.reservations", "catalog_pingou.outbox")
        rows = [await catalog.fetchval(f"SELECT count(*) FROM {t}") for t in tables]  # noqa: S608  -- fixed names
        version = await catalog.fetchval(
            "SELECT version FROM catalog_pingou.listings WHERE sku_id = 'sku-yiwu-goods-1-1'"
        )
        return (*rows, version)

    before = await counts()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(catalog, catalog.token(PINGOU, Role.OPERATOR))
    assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
    details = f"{caught.value.details()} {reason_of(caught.value)}"
    assert expected in details, details
    assert await counts() == before
