"""Every call that changes an order takes an idempotency key: a retry, or a twin sent at the same time,
gets the first call's answer, and the change (stock reserved, events) happens once."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as catalog_pb

from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine
from services.order.domain.model import order_id_for
from tests.integration.order.conftest import Shop, status_of

MALL, PINGOU = BusinessLine.MALL, BusinessLine.PINGOU


async def test_ten_concurrent_placements_with_one_key_make_one_order_and_reserve_once(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=20)
    buyer = await shop.register(MALL)
    key = f"checkout-{uuid.uuid4().hex}"

    answers = await asyncio.gather(*[shop.place_mall(buyer, [(sku, 3)], key=key) for _ in range(10)])

    assert len({answer.SerializeToString(deterministic=True) for answer in answers}) == 1
    assert await shop.stock(MALL, sku) == (17, 3)
    assert await shop.count("SELECT count(*) FROM order_mall.orders WHERE user_id = $1", buyer) == 1
    assert await shop.event_names(answers[0].order_id) == ["OrderPlaced"]


async def test_a_retry_after_the_order_moved_on_still_gets_the_first_answer(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5)
    buyer = await shop.register(MALL)
    first = await shop.place_mall(buyer, [(sku, 1)], key="k-1")
    await shop.pay(first)

    retried = await shop.place_mall(buyer, [(sku, 1)], key="k-1")

    assert retried == first  # the answer the first call gave: PENDING_PAYMENT
    assert await shop.count("SELECT count(*) FROM order_mall.orders WHERE user_id = $1", buyer) == 1
    assert (await shop.stock(MALL, sku))[0] == 4


async def test_a_key_reused_for_another_request_is_refused(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5)
    buyer = await shop.register(MALL)
    await shop.place_mall(buyer, [(sku, 1)], key="k-2")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.place_mall(buyer, [(sku, 2)], key="k-2")

    assert status_of(refused.value) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")
    assert await shop.stock(MALL, sku) == (4, 1)


async def test_keys_are_per_buyer(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5)
    one, other = await shop.register(MALL), await shop.register(MALL)

    first = await shop.place_mall(one, [(sku, 1)], key="same-key")
    second = await shop.place_mall(other, [(sku, 1)], key="same-key")

    assert first.order_id != second.order_id
    assert await shop.stock(MALL, sku) == (3, 2)


async def test_a_group_order_placed_twice_for_one_seat_is_one_order(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=5)
    buyer = await shop.register(PINGOU)
    group_id = f"g-{uuid.uuid4().hex[:10]}"

    first, second = await asyncio.gather(
        shop.place_group(buyer, sku, group_id, key="seat-1"), shop.place_group(buyer, sku, group_id, key="seat-1")
    )

    assert first == second
    assert await shop.stock(PINGOU, sku) == (4, 1)


async def test_a_retry_whose_first_reservation_ran_out_is_refused_not_placed_without_stock(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5)
    buyer = await shop.register(MALL)
    key = "died-after-reserving"
    # The first attempt reserved and died before writing the order; then its hold ran out.
    order_id = order_id_for(MALL, buyer, key)
    line = LINE_TO_PROTO[MALL]
    await shop.catalog.ReserveStock(
        catalog_pb.ReserveStockRequest(
            line=line, order_id=order_id, items=[catalog_pb.ReservationItem(sku_id=sku, quantity=1)]
        ),
        metadata=shop.as_order_service(MALL),
    )
    await shop.catalog.ReleaseReservation(
        catalog_pb.ReservationRequest(line=line, order_id=order_id), metadata=shop.as_order_service(MALL)
    )
    before = await shop.row_counts()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.place_mall(buyer, [(sku, 1)], key=key)

    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "RESERVATION_EXPIRED")
    assert await shop.row_counts() == before
    assert await shop.stock(MALL, sku) == (5, 0)
