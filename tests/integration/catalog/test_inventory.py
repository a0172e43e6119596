"""Inventory: stock never below zero, reservations idempotent by order id, expired holds come back,
committed ones never do. Against the real service, database and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.events.v1 import envelope_pb2

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit.errors import reason_of
from tests.integration.catalog.conftest import PROTO_LINE, Catalog
from tests.support.kafka import read_topic
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra
PINGOU = BusinessLine.PINGOU


def reserve_request(order_id: str, sku_id: str, quantity: int = 1, hold_seconds: int = 0) -> pb.ReserveStockRequest:
    return pb.ReserveStockRequest(
        line=PROTO_LINE[PINGOU],
        order_id=order_id,
        items=[pb.ReservationItem(sku_id=sku_id, quantity=quantity)],
        hold_seconds=hold_seconds,
    )


async def test_300_concurrent_reservations_against_100_in_stock_reserve_exactly_100(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=100)
    service = catalog.token(PINGOU)
    orders = [f"o-{uuid.uuid4().hex[:12]}" for _ in range(300)]
    results = await asyncio.gather(
        *(catalog.stub.ReserveStock(reserve_request(order, sku_id), metadata=service) for order in orders),
        return_exceptions=True,
    )
    reserved = [order for order, result in zip(orders, results, strict=True) if isinstance(result, pb.Reservation)]
    refused = [result for result in results if not isinstance(result, pb.Reservation)]
    assert len(reserved) == 100
    assert all(
        isinstance(error, grpc.aio.AioRpcError)
        and error.code() == grpc.StatusCode.FAILED_PRECONDITION
        and reason_of(error) == "OUT_OF_STOCK"
        for error in refused
    ), {repr(error)[:200] for error in refused}
    assert await catalog.stock(PINGOU, sku_id) == (0, 100)

    # Retried reservations (the same order ids) return the first result and take nothing more.
    retries = await asyncio.gather(
        *(catalog.stub.ReserveStock(reserve_request(order, sku_id), metadata=service) for order in reserved[:30])
    )
    assert all(reply.state == pb.RESERVATION_STATE_RESERVED for reply in retries)
    assert await catalog.stock(PINGOU, sku_id) == (0, 100)
    assert await catalog.fetchval("SELECT min(available) FROM catalog_pingou.stock WHERE sku_id = $1", sku_id) == 0


async def test_a_reservation_of_several_units_spans_buckets_and_is_all_or_nothing(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)  # 8 buckets of 1 or 2
    other = await catalog.new_sku(PINGOU, stock=1)
    service = catalog.token(PINGOU)
    big = await catalog.stub.ReserveStock(reserve_request("o-big", sku_id, quantity=7), metadata=service)
    assert big.state == pb.RESERVATION_STATE_RESERVED
    both = pb.ReserveStockRequest(
        line=PROTO_LINE[PINGOU],
        order_id="o-both",
        items=[pb.ReservationItem(sku_id=sku_id, quantity=2), pb.ReservationItem(sku_id=other, quantity=2)],
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ReserveStock(both, metadata=service)
    assert reason_of(caught.value) == "OUT_OF_STOCK"
    assert await catalog.stock(PINGOU, sku_id) == (3, 7)  # the 2 of the failed order went back
    assert await catalog.stock(PINGOU, other) == (1, 0)


async def test_the_same_order_id_with_other_items_is_refused(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=5)
    service = catalog.token(PINGOU)
    await catalog.stub.ReserveStock(reserve_request("o-same", sku_id, quantity=1), metadata=service)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ReserveStock(reserve_request("o-same", sku_id, quantity=2), metadata=service)
    assert (caught.value.code(), reason_of(caught.value)) == (grpc.StatusCode.ALREADY_EXISTS, "RESERVATION_MISMATCH")
    assert await catalog.stock(PINGOU, sku_id) == (4, 1)


async def test_expired_holds_come_back_and_committed_ones_never_do(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    service = catalog.token(PINGOU)
    await catalog.stub.ReserveStock(reserve_request("o-lapses", sku_id, quantity=3, hold_seconds=60), metadata=service)
    await catalog.stub.ReserveStock(reserve_request("o-pays", sku_id, quantity=2, hold_seconds=60), metadata=service)
    committed = await catalog.stub.CommitReservation(
        pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-pays"), metadata=service
    )
    assert committed.state == pb.RESERVATION_STATE_COMMITTED
    assert await catalog.stock(PINGOU, sku_id) == (5, 3)
    # Time passes: both holds run out. The expiry job must give back only the uncommitted one.
    await catalog.fetchval(
        "UPDATE catalog_pingou.reservations SET expires_at = now() - interval '1 second' "
        "WHERE order_id IN ('o-lapses', 'o-pays')"
    )

    async def released() -> bool:
        return await catalog.stock(PINGOU, sku_id) == (8, 0)

    await eventually(released, timeout=15)
    state = await catalog.fetchval("SELECT state FROM catalog_pingou.reservations WHERE order_id = 'o-pays'")
    assert state == "committed"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ReleaseReservation(
            pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-pays"), metadata=service
        )
    assert reason_of(caught.value) == "RESERVATION_COMMITTED"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.CommitReservation(
            pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-lapses"), metadata=service
        )
    assert reason_of(caught.value) == "RESERVATION_RELEASED"
    assert await catalog.stock(PINGOU, sku_id) == (8, 0)


async def test_release_gives_stock_back_once(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=4)
    service = catalog.token(PINGOU)
    await catalog.stub.ReserveStock(reserve_request("o-cancel", sku_id, quantity=3), metadata=service)
    request = pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-cancel")
    replies = await asyncio.gather(*(catalog.stub.ReleaseReservation(request, metadata=service) for _ in range(5)))
    assert {reply.state for reply in replies} == {pb.RESERVATION_STATE_RELEASED}
    assert await catalog.stock(PINGOU, sku_id) == (4, 0)


async def test_two_expiry_jobs_at_once_release_each_hold_exactly_once(catalog: Catalog) -> None:
    from libs.database import create_pool
    from services.catalog.service_layer import inventory
    from services.catalog.service_layer.unit_of_work import UnitOfWork

    sku_id = await catalog.new_sku(PINGOU, stock=60)
    service = catalog.token(PINGOU)
    for n in range(50):
        await catalog.stub.ReserveStock(reserve_request(f"o-exp-{n}", sku_id, hold_seconds=60), metadata=service)
    pool = await create_pool(catalog.database_url, schema="catalog_pingou", application_name="tests", max_size=4)
    try:
        await pool.execute("UPDATE reservations SET expires_at = now() WHERE order_id LIKE 'o-exp-%'")

        async def job() -> int:
            total = 0
            while True:
                async with UnitOfWork(pool, PINGOU, topic_prefix=catalog.topic_prefix) as uow:
                    released = (await inventory.release_expired(uow, batch=7)).claimed
                if not released:
                    return total
                total += released

        await asyncio.gather(job(), job(), job())
    finally:
        await pool.close()
    # The service's own job runs too; whoever released them, each was released once: the stock is whole
    # again, and each order has exactly one StockReleased event.
    assert await catalog.stock(PINGOU, sku_id) == (60, 0)
    released = await inventory_events(catalog, prefix="o-exp-", kind="StockReleased", at_least=50)
    assert sorted(released) == sorted(f"o-exp-{n}" for n in range(50))


async def inventory_events(catalog: Catalog, *, prefix: str, kind: str, at_least: int) -> list[str]:
    """Order ids of the `kind` events on the pingou inventory topic whose order id starts with `prefix`,
    once every change has left the outbox."""

    async def outbox_empty() -> bool:
        return bool(await catalog.fetchval("SELECT count(*) FROM catalog_pingou.outbox WHERE parked_at IS NULL") == 0)

    await eventually(outbox_empty, timeout=30)
    topic = f"{catalog.topic_prefix}pingou.inventory.v1"

    def matching(records: list[Any]) -> list[str]:
        found = []
        for record in records:
            envelope = envelope_pb2.EventEnvelope.FromString(record.value)
            if envelope.event_type == f"pingou.catalog.v1.{kind}" and envelope.aggregate_id.startswith(prefix):
                found.append(envelope.aggregate_id)
        return found

    records = await read_topic(catalog.kafka, topic, until=lambda got: len(matching(got)) >= at_least)
    return matching(records)


async def test_each_change_is_announced_once_however_often_it_is_retried(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=10)
    service = catalog.token(PINGOU)
    for _ in range(3):
        await catalog.stub.ReserveStock(reserve_request("o-ann-1", sku_id, quantity=2), metadata=service)
        await catalog.stub.ReserveStock(reserve_request("o-ann-2", sku_id, quantity=1), metadata=service)
    for _ in range(3):
        await catalog.stub.CommitReservation(
            pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-ann-1"), metadata=service
        )
        await catalog.stub.ReleaseReservation(
            pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-ann-2"), metadata=service
        )
    assert sorted(await inventory_events(catalog, prefix="o-ann-", kind="StockReserved", at_least=2)) == [
        "o-ann-1",
        "o-ann-2",
    ]
    assert await inventory_events(catalog, prefix="o-ann-", kind="StockCommitted", at_least=1) == ["o-ann-1"]
    assert await inventory_events(catalog, prefix="o-ann-", kind="StockReleased", at_least=1) == ["o-ann-2"]


async def test_a_sku_that_is_not_listed_cannot_be_reserved(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=5)
    operator = catalog.token(PINGOU, Role.OPERATOR)
    await catalog.stub.RemoveListing(pb.RemoveListingRequest(line=PROTO_LINE[PINGOU], sku_id=sku_id), metadata=operator)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.ReserveStock(reserve_request("o-unlisted", sku_id), metadata=catalog.token(PINGOU))
    assert (caught.value.code(), reason_of(caught.value)) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_LISTED")
    assert await catalog.stock(PINGOU, sku_id) == (5, 0)


async def test_a_hold_that_ran_out_cannot_be_committed_even_before_the_job_releases_it(catalog: Catalog) -> None:
    sku_id = await catalog.new_sku(PINGOU, stock=5)
    service = catalog.token(PINGOU)
    await catalog.stub.ReserveStock(reserve_request("o-late", sku_id, hold_seconds=60), metadata=service)
    await catalog.fetchval(
        "UPDATE catalog_pingou.reservations SET expires_at = now() + interval '1 hour' - interval '61 minutes' "
        "WHERE order_id = 'o-late'"
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.stub.CommitReservation(
            pb.ReservationRequest(line=PROTO_LINE[PINGOU], order_id="o-late"), metadata=service
        )
    assert reason_of(caught.value) in ("RESERVATION_EXPIRED", "RESERVATION_RELEASED")
