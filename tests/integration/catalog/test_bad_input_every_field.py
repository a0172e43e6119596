"""Every field of every catalog RPC, with each kind of bad value (tests/support/bad_input.py): refused at the
edge as INVALID_ARGUMENT naming the field, writing nothing; never UNKNOWN or INTERNAL."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from libs.core.orders import MAX_PAYMENT_MINOR
from libs.grpckit.errors import reason_of
from services.catalog.entrypoints.validation import MULTILINE_FIELDS, SERVICE
from tests.integration.catalog.conftest import PROTO_LINE, Catalog
from tests.support.bad_input import Good, Rpc, check_rpc

pytestmark = pytest.mark.infra
MALL, PINGOU = BusinessLine.MALL, BusinessLine.PINGOU
EMPTY = ("empty",)
TABLES = (
    "catalog.products",
    "catalog.skus",
    *(f"catalog_{line}.{table}" for line in BusinessLine for table in ("listings", "reservations", "lease_requests")),
)


async def row_counts(catalog: Catalog) -> tuple[int, ...]:
    """Rows of the catalog's tables, plus what an update would move: listing versions and stock."""
    counts = [await catalog.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES]  # noqa: S608  -- fixed names
    for line in BusinessLine:
        counts.append(await catalog.fetchval(f"SELECT coalesce(sum(version), 0) FROM catalog_{line}.listings"))  # noqa: S608
        counts.append(await catalog.fetchval(f"SELECT coalesce(sum(available), 0) FROM catalog_{line}.stock"))  # noqa: S608
    return tuple(counts)


def operator(catalog: Catalog, line: BusinessLine = PINGOU) -> list[tuple[str, str]]:
    return catalog.token(line, Role.OPERATOR, subject="ops")


def pingou_price(*, per_user_limit: int = 2) -> pb.PingouPrice:
    rule = pb.GroupRule(
        size=3, window_minutes=60, per_user_limit=per_user_limit, strangers_can_join=True, auto_match=True
    )
    return pb.PingouPrice(solo_price_minor=2990, group_price_minor=1990, leader_price_minor=990, rule=rule)


RpcTable = Callable[[Catalog, str], Rpc]


def _tables() -> dict[str, RpcTable]:
    """Per RPC: its good requests, and the values it may accept (the rest must be refused)."""

    def create_product(c: Catalog, sku: str) -> Rpc:
        good = pb.CreateProductRequest(
            merchant_id="m-yiwu-goods-trade",
            category_id="daily",
            belt_id="yiwu-goods",
            factory_direct=True,
            title="义乌 收纳盒",
            description="大号\n结实",
            image_urls=["https://img.example/a.jpg"],
            attributes={"材质": "塑料"},
            skus=[pb.Sku(title="白色", attributes={"尺码": "L"}, image_url="https://img.example/b.jpg")],
        )
        # Ids of SKUs are issued: what a request puts there is not read, but must still be storable text.
        good.skus[0].sku_id, good.skus[0].product_id = "ignored", "ignored"
        accepts = {
            "belt_id": EMPTY,
            "description": EMPTY,
            "image_urls": EMPTY,
            "attributes": EMPTY,
            "attributes[材质]": EMPTY,
            "skus[0].sku_id": EMPTY,
            "skus[0].product_id": EMPTY,
            "skus[0].attributes": EMPTY,
            "skus[0].attributes[尺码]": EMPTY,
            "skus[0].image_url": EMPTY,
        }
        return Rpc(c.stub.CreateProduct, [Good(good, operator(c))], accepts, MULTILINE_FIELDS)

    def upsert_listing(c: Catalog, sku: str) -> Rpc:
        mall = pb.UpsertListingRequest(
            line=PROTO_LINE[MALL], sku_id=sku, mall=pb.MallPrice(price_minor=2990, plus_price_minor=2590)
        )
        pingou = pb.UpsertListingRequest(line=PROTO_LINE[PINGOU], sku_id=sku, pingou=pingou_price())
        accepts = {
            "mall.plus_price_minor": EMPTY,  # no PLUS price
            "pingou.leader_price_minor": EMPTY,  # no leader price
            "pingou.rule.window_minutes": EMPTY,  # the default window
            "pingou.rule.per_user_limit": EMPTY,  # no limit
        }
        goods = [Good(mall, operator(c, MALL)), Good(pingou, operator(c))]
        return Rpc(c.stub.UpsertListing, goods, accepts)

    def search(c: Catalog, sku: str) -> Rpc:
        good = pb.SearchListingsRequest(
            line=PROTO_LINE[PINGOU],
            query="收纳",
            category_id="daily",
            belt_id="yiwu-goods",
            factory_direct=True,
            min_price_minor=100,
            max_price_minor=100_000,
            page_size=10,
        )
        optional = ("query", "category_id", "belt_id", "min_price_minor", "max_price_minor", "page_size", "page_token")
        return Rpc(c.stub.SearchListings, [Good(good, c.token(PINGOU, Role.USER))], dict.fromkeys(optional, EMPTY))

    def line_and_sku(method: str, message: type[pb.GetStockRequest] | type[pb.RemoveListingRequest]) -> RpcTable:
        def table(c: Catalog, sku: str) -> Rpc:
            good = message(line=PROTO_LINE[PINGOU], sku_id=sku)
            return Rpc(getattr(c.stub, method), [Good(good, operator(c))])

        return table

    def reservation(method: str) -> RpcTable:
        def table(c: Catalog, sku: str) -> Rpc:
            good = pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id=f"o-{uuid.uuid4().hex}")
            return Rpc(getattr(c.stub, method), [Good(good, c.token(PINGOU))])

        return table

    def lease(method: str, message: type[pb.LeaseStockRequest] | type[pb.ReturnStockRequest]) -> RpcTable:
        def table(c: Catalog, sku: str) -> Rpc:
            good = message(line=PROTO_LINE[PINGOU], sku_id=sku, quantity=2, lease_id=str(uuid.uuid4()))
            return Rpc(getattr(c.stub, method), [Good(good, c.token(PINGOU, subject="groupbuy"))])

        return table

    return {
        "ListBelts": lambda c, sku: Rpc(c.stub.ListBelts, [Good(pb.ListBeltsRequest(), c.token(PINGOU, Role.USER))]),
        "ListCategories": lambda c, sku: Rpc(
            c.stub.ListCategories, [Good(pb.ListCategoriesRequest(), c.token(PINGOU, Role.USER))]
        ),
        "ListMerchants": lambda c, sku: Rpc(
            c.stub.ListMerchants,
            [Good(pb.ListMerchantsRequest(belt_id="yiwu-goods", page_size=10), c.token(PINGOU, Role.USER))],
            dict.fromkeys(("belt_id", "page_size", "page_token"), EMPTY),
        ),
        "CreateProduct": create_product,
        "GetProducts": lambda c, sku: Rpc(
            c.stub.GetProducts,
            [Good(pb.GetProductsRequest(product_ids=["spu-yiwu-goods-1"]), c.token(PINGOU, Role.USER))],
        ),
        "UpsertListing": upsert_listing,
        "RemoveListing": line_and_sku("RemoveListing", pb.RemoveListingRequest),
        "GetListings": lambda c, sku: Rpc(
            c.stub.GetListings,
            [Good(pb.GetListingsRequest(line=PROTO_LINE[PINGOU], sku_ids=[sku]), c.token(PINGOU, Role.USER))],
        ),
        "SearchListings": search,
        "SetStock": lambda c, sku: Rpc(
            c.stub.SetStock,
            [Good(pb.SetStockRequest(line=PROTO_LINE[PINGOU], sku_id=sku, available=40), operator(c))],
            {"available": EMPTY},
        ),
        "GetStock": line_and_sku("GetStock", pb.GetStockRequest),
        "ReserveStock": lambda c, sku: Rpc(
            c.stub.ReserveStock,
            [
                Good(
                    pb.ReserveStockRequest(
                        line=PROTO_LINE[PINGOU],
                        order_id=f"o-{uuid.uuid4().hex}",
                        items=[pb.ReservationItem(sku_id=sku, quantity=1)],
                        hold_seconds=120,
                    ),
                    c.token(PINGOU),
                )
            ],
            {"hold_seconds": EMPTY},  # the default hold
        ),
        "CommitReservation": reservation("CommitReservation"),
        "ReleaseReservation": reservation("ReleaseReservation"),
        "LeaseStock": lease("LeaseStock", pb.LeaseStockRequest),
        "ReturnStock": lease("ReturnStock", pb.ReturnStockRequest),
    }


TABLES_BY_RPC = _tables()


def test_every_catalog_rpc_has_a_table() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods}
    assert set(TABLES_BY_RPC) == methods


@pytest.mark.parametrize("method", sorted(TABLES_BY_RPC))
async def test_every_field_refuses_bad_values_by_name_and_writes_nothing(catalog: Catalog, method: str) -> None:
    sku = await catalog.new_sku(PINGOU, stock=50)
    problems = await check_rpc(TABLES_BY_RPC[method](catalog, sku), lambda: row_counts(catalog))
    assert problems == []


async def test_a_per_user_limit_no_groupbuy_column_can_hold_is_refused(catalog: Catalog) -> None:
    # Once stored, such a listing made every OpenGroup of its SKU fail (groupbuy keeps the bound in an
    # integer column).
    sku = await catalog.new_sku(PINGOU, stock=5)
    before = await row_counts(catalog)
    for limit in (2**31, 101):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.stub.UpsertListing(
                pb.UpsertListingRequest(line=PROTO_LINE[PINGOU], sku_id=sku, pingou=pingou_price(per_user_limit=limit)),
                metadata=operator(catalog),
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "pingou.rule.per_user_limit" in (caught.value.details() or "")
    assert await row_counts(catalog) == before


async def test_a_price_above_what_one_payment_may_be_is_refused(catalog: Catalog) -> None:
    sku = await catalog.new_sku(MALL, stock=5)
    listing = pb.UpsertListingRequest(
        line=PROTO_LINE[MALL], sku_id=sku, mall=pb.MallPrice(price_minor=MAX_PAYMENT_MINOR)
    )
    await catalog.stub.UpsertListing(listing, metadata=operator(catalog, MALL))  # the cap itself is fine
    before = await row_counts(catalog)
    listing.mall.price_minor = MAX_PAYMENT_MINOR + 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.UpsertListing(listing, metadata=operator(catalog, MALL))
    assert (caught.value.code(), reason_of(caught.value)) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_LISTING")
    assert "mall.price_minor" in (caught.value.details() or "")
    assert await row_counts(catalog) == before
