"""Stock leased to groupbuy: a lease grants what there is and never more, a retry of a lease id gets the
first answer, a return puts stock back but never more than is leased, only LEASE_CALLERS may call, and
each change is announced once. Against the real service, database and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.order.v1 import events_pb2 as order_events
from structlog.testing import capture_logs

from libs.auth import Role
from libs.core import BusinessLine
from libs.database import create_pool
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from libs.grpckit.errors import reason_of
from services.catalog.entrypoints.consumers import order_handlers
from tests.integration.catalog.conftest import PROTO_LINE, Catalog
from tests.support.kafka import published_events

pytestmark = pytest.mark.infra
PINGOU = BusinessLine.PINGOU
Metadata = list[tuple[str, str]]


def groupbuy(catalog: Catalog) -> Metadata:
    return catalog.token(PINGOU, Role.SERVICE, subject="groupbuy")


def lease_request(sku_id: str, quantity: int, lease_id: str = "") -> pb.LeaseStockRequest:
    return pb.LeaseStockRequest(
        line=PROTO_LINE[PINGOU], sku_id=sku_id, quantity=quantity, lease_id=lease_id or str(uuid.uuid4())
    )


def return_request(sku_id: str, quantity: int, lease_id: str = "") -> pb.ReturnStockRequest:
    return pb.ReturnStockRequest(
        line=PROTO_LINE[PINGOU], sku_id=sku_id, quantity=quantity, lease_id=lease_id or str(uuid.uuid4())
    )


async def stock(catalog: Catalog, sku_id: str) -> tuple[int, int, int]:
    """(available, reserved, leased)."""
    reply = await catalog.stub.GetStock(
        pb.GetStockRequest(line=PROTO_LINE[PINGOU], sku_id=sku_id), metadata=catalog.token(PINGOU)
    )
    return reply.available, reply.reserved, reply.leased


async def buckets(catalog: Catalog, sku_id: str) -> list[int]:
    rows = await catalog.fetchval(
        "SELECT array_agg(available ORDER BY bucket) FROM catalog_pingou.stock WHERE sku_id = $1", sku_id
    )
    return list(rows)


async def recorded(catalog: Catalog, lease_id: str) -> int:
    """How many answers are recorded under this lease id (0 or 1)."""
    return int(
        await catalog.fetchval("SELECT count(*) FROM catalog_pingou.lease_requests WHERE lease_id = $1", lease_id)
    )


async def refused(call: Awaitable[object]) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), reason_of(caught.value)


async def test_a_lease_grants_up_to_what_there_is_and_the_stock_shows_it(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=50)
    first = await catalog.stub.LeaseStock(lease_request(sku_id, 30), metadata=groupbuy(catalog))
    assert (first.sku_id, first.line, first.quantity, first.leased) == (sku_id, PROTO_LINE[PINGOU], 30, 30)
    assert await stock(catalog, sku_id) == (20, 0, 30)
    assert sorted(await buckets(catalog, sku_id)) == [2, 2, 2, 2, 3, 3, 3, 3]  # what is left stays spread

    second = await catalog.stub.LeaseStock(lease_request(sku_id, 30), metadata=groupbuy(catalog))
    assert (second.quantity, second.leased) == (20, 50)  # all there was, less than asked
    third = await catalog.stub.LeaseStock(lease_request(sku_id, 30), metadata=groupbuy(catalog))
    assert (third.quantity, third.leased) == (0, 50)  # none left: an answer, not an error
    assert await stock(catalog, sku_id) == (0, 0, 50)
    assert await buckets(catalog, sku_id) == [0] * 8


async def test_a_retried_lease_gets_the_first_answer_and_nothing_more(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    lease_id = str(uuid.uuid4())
    first = await catalog.stub.LeaseStock(lease_request(sku_id, 4, lease_id), metadata=groupbuy(catalog))
    assert (first.lease_id, first.quantity, first.leased) == (lease_id, 4, 4)
    await catalog.stub.LeaseStock(lease_request(sku_id, 3), metadata=groupbuy(catalog))  # another lease: 7 out

    retries = await asyncio.gather(
        *(catalog.stub.LeaseStock(lease_request(sku_id, 4, lease_id), metadata=groupbuy(catalog)) for _ in range(5)),
        catalog.stub.LeaseStock(lease_request(sku_id, 6, lease_id.upper()), metadata=groupbuy(catalog)),
    )
    assert {(reply.lease_id, reply.quantity, reply.leased) for reply in retries} == {(lease_id, 4, 4)}
    assert await stock(catalog, sku_id) == (3, 0, 7)
    assert await recorded(catalog, lease_id) == 1


async def test_a_lease_id_used_for_another_sku_or_kind_is_refused(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    other = await catalog.new_sku(PINGOU, stock=10)
    lease_id = str(uuid.uuid4())
    await catalog.stub.LeaseStock(lease_request(sku_id, 4, lease_id), metadata=groupbuy(catalog))
    reused = (grpc.StatusCode.ALREADY_EXISTS, "LEASE_ID_REUSED")
    assert await refused(catalog.stub.LeaseStock(lease_request(other, 4, lease_id), metadata=groupbuy(catalog))) == (
        reused
    )
    assert await refused(catalog.stub.ReturnStock(return_request(sku_id, 4, lease_id), metadata=groupbuy(catalog))) == (
        reused
    )
    assert await stock(catalog, sku_id) == (6, 0, 4)
    assert await stock(catalog, other) == (10, 0, 0)


async def test_20_concurrent_leases_of_30_on_500_in_stock_grant_exactly_500(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=500)
    replies = await asyncio.gather(
        *(catalog.stub.LeaseStock(lease_request(sku_id, 30), metadata=groupbuy(catalog)) for _ in range(20))
    )
    granted = [reply.quantity for reply in replies]
    assert sum(granted) == 500
    assert all(0 <= quantity <= 30 for quantity in granted)
    assert max(reply.leased for reply in replies) == 500
    assert await stock(catalog, sku_id) == (0, 0, 500)
    assert await buckets(catalog, sku_id) == [0] * 8
    total = await catalog.fetchval("SELECT sum(quantity) FROM catalog_pingou.lease_requests WHERE sku_id = $1", sku_id)
    assert total == 500


async def test_leases_returns_and_reservations_racing_on_one_sku_lose_and_make_no_stock(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=300)
    await catalog.stub.LeaseStock(lease_request(sku_id, 100), metadata=groupbuy(catalog))
    service = catalog.token(PINGOU)
    reservations = [
        catalog.stub.ReserveStock(
            pb.ReserveStockRequest(
                line=PROTO_LINE[PINGOU],
                order_id=f"o-race-{uuid.uuid4().hex[:12]}",
                items=[pb.ReservationItem(sku_id=sku_id, quantity=2)],
            ),
            metadata=service,
        )
        for _ in range(60)
    ]
    leases = [catalog.stub.LeaseStock(lease_request(sku_id, 15), metadata=groupbuy(catalog)) for _ in range(10)]
    returns = [catalog.stub.ReturnStock(return_request(sku_id, 10), metadata=groupbuy(catalog)) for _ in range(10)]
    reserved_or_not, leased, returned = await asyncio.gather(
        asyncio.gather(*reservations, return_exceptions=True), asyncio.gather(*leases), asyncio.gather(*returns)
    )
    # Leases and returns all succeed (no deadlock); a reservation may find no stock left.
    refusals = {reason_of(error) for error in reserved_or_not if isinstance(error, grpc.aio.AioRpcError)}
    assert refusals <= {"OUT_OF_STOCK", "STOCK_CONTENDED"}, refusals
    assert all(isinstance(result, pb.Reservation | grpc.aio.AioRpcError) for result in reserved_or_not)
    granted = sum(reply.quantity for reply in leased)
    available, reserved, out = await stock(catalog, sku_id)
    assert out == 100 + granted - sum(reply.quantity for reply in returned)
    assert reserved == 2 * sum(isinstance(result, pb.Reservation) for result in reserved_or_not)
    assert available + reserved + out == 300
    assert min(await buckets(catalog, sku_id)) >= 0


async def test_a_return_puts_stock_back_and_one_beyond_the_lease_is_refused_writing_nothing(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=20)
    await catalog.stub.LeaseStock(lease_request(sku_id, 12), metadata=groupbuy(catalog))
    return_id = str(uuid.uuid4())
    back = await catalog.stub.ReturnStock(return_request(sku_id, 5, return_id), metadata=groupbuy(catalog))
    assert (back.lease_id, back.quantity, back.leased) == (return_id, 5, 7)
    assert await stock(catalog, sku_id) == (13, 0, 7)
    again = await catalog.stub.ReturnStock(return_request(sku_id, 5, return_id), metadata=groupbuy(catalog))
    assert (again.quantity, again.leased) == (5, 7)  # a retry gives back nothing more
    assert await stock(catalog, sku_id) == (13, 0, 7)

    before = await buckets(catalog, sku_id)
    too_much = str(uuid.uuid4())
    assert await refused(catalog.stub.ReturnStock(return_request(sku_id, 8, too_much), metadata=groupbuy(catalog))) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RETURN_EXCEEDS_LEASE",
    )
    assert await stock(catalog, sku_id) == (13, 0, 7)
    assert await buckets(catalog, sku_id) == before
    assert (
        await catalog.fetchval("SELECT count(*) FROM catalog_pingou.lease_requests WHERE lease_id = $1", too_much) == 0
    )
    # The refused lease id was not used up: the caller may retry it with what is leased.
    rest = await catalog.stub.ReturnStock(return_request(sku_id, 7, too_much), metadata=groupbuy(catalog))
    assert (rest.quantity, rest.leased) == (7, 0)
    assert await stock(catalog, sku_id) == (20, 0, 0)
    assert sorted(await buckets(catalog, sku_id)) == [2, 2, 2, 2, 3, 3, 3, 3]


async def test_a_sku_never_leased_takes_nothing_back(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=5)
    assert await refused(catalog.stub.ReturnStock(return_request(sku_id, 1), metadata=groupbuy(catalog))) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "RETURN_EXCEEDS_LEASE",
    )
    assert await stock(catalog, sku_id) == (5, 0, 0)


async def test_set_stock_sets_what_is_free_and_leaves_the_lease_alone(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=30)
    await catalog.stub.LeaseStock(lease_request(sku_id, 10), metadata=groupbuy(catalog))
    operator = catalog.token(PINGOU, Role.OPERATOR)
    set_to = await catalog.stub.SetStock(
        pb.SetStockRequest(line=PROTO_LINE[PINGOU], sku_id=sku_id, available=100), metadata=operator
    )
    assert (set_to.available, set_to.leased) == (100, 10)
    await catalog.stub.ReturnStock(return_request(sku_id, 10), metadata=groupbuy(catalog))
    assert await stock(catalog, sku_id) == (110, 0, 0)  # returned units come back on top, like released ones


async def test_an_unlisted_sku_is_not_leased_but_takes_its_units_back(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    await catalog.stub.LeaseStock(lease_request(sku_id, 4), metadata=groupbuy(catalog))
    operator = catalog.token(PINGOU, Role.OPERATOR)
    await catalog.stub.RemoveListing(pb.RemoveListingRequest(line=PROTO_LINE[PINGOU], sku_id=sku_id), metadata=operator)
    assert await refused(catalog.stub.LeaseStock(lease_request(sku_id, 1), metadata=groupbuy(catalog))) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_LISTED",
    )
    back = await catalog.stub.ReturnStock(return_request(sku_id, 4), metadata=groupbuy(catalog))
    assert back.leased == 0
    assert await stock(catalog, sku_id) == (10, 0, 0)


async def test_a_sku_without_stock_is_not_found(catalog: Catalog) -> None:
    operator = catalog.token(PINGOU, Role.OPERATOR)
    product = await catalog.stub.CreateProduct(
        pb.CreateProductRequest(
            merchant_id="m-yiwu-goods-trade", category_id="daily", title="无库存商品", skus=[pb.Sku(title="标准")]
        ),
        metadata=operator,
    )
    listed_without_stock = product.skus[0].sku_id
    await catalog.stub.UpsertListing(
        pb.UpsertListingRequest(
            line=PROTO_LINE[PINGOU],
            sku_id=listed_without_stock,
            pingou=pb.PingouPrice(solo_price_minor=1990, group_price_minor=1590, rule=pb.GroupRule(size=3)),
        ),
        metadata=operator,
    )
    not_found = (grpc.StatusCode.NOT_FOUND, "STOCK_NOT_FOUND")
    for sku_id in ("sku-no-such-thing", listed_without_stock):
        lease, give_back = lease_request(sku_id, 1), return_request(sku_id, 1)
        assert await refused(catalog.stub.LeaseStock(lease, metadata=groupbuy(catalog))) == not_found
        assert await refused(catalog.stub.ReturnStock(give_back, metadata=groupbuy(catalog))) == not_found


@pytest.mark.parametrize(
    ("who", "roles", "reason"),
    [
        ("order", (Role.SERVICE,), "CALLER_NOT_ALLOWED"),
        ("groupbuy", (Role.OPERATOR,), "ROLE_REQUIRED"),
        ("ops-1", (Role.OPERATOR,), "ROLE_REQUIRED"),
        ("pu_1000001", (Role.USER,), "ROLE_REQUIRED"),
    ],
)
async def test_only_lease_callers_lease_or_return(
    catalog: Catalog, who: str, roles: tuple[Role, ...], reason: str
) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    await catalog.stub.LeaseStock(lease_request(sku_id, 5), metadata=groupbuy(catalog))
    intruder = catalog.token(PINGOU, *roles, subject=who)
    denied = (grpc.StatusCode.PERMISSION_DENIED, reason)
    assert await refused(catalog.stub.LeaseStock(lease_request(sku_id, 1), metadata=intruder)) == denied
    assert await refused(catalog.stub.ReturnStock(return_request(sku_id, 1), metadata=intruder)) == denied
    assert await stock(catalog, sku_id) == (5, 0, 5)


async def test_groupbuy_with_a_token_of_the_other_line_is_denied(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    mall_groupbuy = catalog.token(BusinessLine.MALL, Role.SERVICE, subject="groupbuy")
    assert await refused(catalog.stub.LeaseStock(lease_request(sku_id, 1), metadata=mall_groupbuy)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "LINE_MISMATCH",
    )
    assert await stock(catalog, sku_id) == (10, 0, 0)


BAD_LEASES: dict[str, tuple[dict[str, object], str]] = {
    "quantity 0": ({"quantity": 0}, "quantity"),
    "quantity above 100000": ({"quantity": 100_001}, "quantity"),
    "a lease id that is not a UUID": ({"lease_id": "lease-1"}, "lease_id"),
    "a UUID without its dashes": ({"lease_id": uuid.uuid4().hex}, "lease_id"),
    "a malformed SKU id": ({"sku_id": "Not A SKU"}, "sku_id"),
    "no line": ({"line": 0}, "line"),
}


@pytest.mark.parametrize("method", ["LeaseStock", "ReturnStock"])
@pytest.mark.parametrize("case", sorted(BAD_LEASES))
async def test_bad_input_is_invalid_argument_and_writes_nothing(catalog: Catalog, case: str, method: str) -> None:
    changes, field = BAD_LEASES[case]
    message = (lease_request if method == "LeaseStock" else return_request)("sku-yiwu-goods-1-1", 1)
    for name, value in changes.items():
        setattr(message, name, value)
    call: Callable[..., Awaitable[object]] = getattr(catalog.stub, method)
    before = await catalog.fetchval("SELECT count(*) FROM catalog_pingou.lease_requests")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(message, metadata=groupbuy(catalog))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")
    assert await catalog.fetchval("SELECT count(*) FROM catalog_pingou.lease_requests") == before


async def test_each_lease_and_return_is_announced_once_keyed_by_sku(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    lease_id, return_id = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(3):
        await catalog.stub.LeaseStock(lease_request(sku_id, 6, lease_id), metadata=groupbuy(catalog))
    for _ in range(3):
        await catalog.stub.ReturnStock(return_request(sku_id, 2, return_id), metadata=groupbuy(catalog))
    events = await published_events(
        catalog.kafka,
        f"{catalog.topic_prefix}pingou.inventory.v1",
        [pb.StockLeased, pb.StockReturned, pb.StockSet, pb.StockReserved, pb.StockCommitted, pb.StockReleased],
        dsn=catalog.database_url,
        outbox_schema="catalog_pingou",
    )
    ours = [(key, event) for key, event in events if isinstance(event, pb.StockLeased | pb.StockReturned)]
    ours = [(key, event) for key, event in ours if event.sku_id == sku_id]
    assert ours == [
        (sku_id, pb.StockLeased(lease_id=lease_id, sku_id=sku_id, quantity=6, leased=6)),
        (sku_id, pb.StockReturned(lease_id=return_id, sku_id=sku_id, quantity=2, leased=4)),
    ]


async def test_an_order_event_without_a_reservation_is_a_warning_only_for_mall_orders(catalog: Catalog) -> None:
    """A group order whose unit came from groupbuy's leased stock has no reservation: expected, quiet."""

    def handler(line: BusinessLine, event_type: type[order_events.OrderCancelled]) -> Handler:
        return order_handlers(line, topic_prefix=catalog.topic_prefix)[event_type]

    async def deliver(line: BusinessLine, payload: order_events.OrderCancelled) -> list[str]:
        schema = f"catalog_{line}"
        pool = await create_pool(catalog.database_url, schema=schema, application_name="tests", max_size=1)
        event = ConsumedEvent(None, payload, "order", 0, 0)  # type: ignore[arg-type]  # the handler reads the payload
        try:
            with capture_logs() as logs:
                async with pool.acquire() as connection, connection.transaction():
                    await handler(line, type(payload))(connection, event)
        finally:
            await pool.close()
        return [entry["log_level"] for entry in logs if entry["event"] == "order_event_without_reservation"]

    group = order_events.OrderCancelled(order_id="po_" + "a" * 26, group_id="g-1")
    mall = order_events.OrderCancelled(order_id="mo_" + "a" * 26)
    assert await deliver(PINGOU, group) == ["debug"]
    assert await deliver(BusinessLine.MALL, mall) == ["warning"]
