"""Flow 1, a mall purchase: browse -> order -> reserve stock -> pay -> shipped, and a PLUS member pays the PLUS
price (with flow 6: the trial, once per person). Across the real catalog, membership and order services."""

from __future__ import annotations

import uuid

import grpc
import pytest
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.order.conftest import Shop, status_of
from tests.support.waiting import eventually_equal

MALL = BusinessLine.MALL


async def test_a_plus_member_buys_at_the_plus_price_pays_and_receives_the_goods(shop: Shop) -> None:
    plus_sku = await shop.new_sku(MALL, stock=10, price=5990, plus_price=4990)
    plain_sku = await shop.new_sku(MALL, stock=10, price=1200)
    buyer = await shop.register(MALL)
    await shop.buy_trial(buyer)
    with pytest.raises(grpc.aio.AioRpcError) as second_trial:  # flow 6: a trial once per person
        await shop.buy_trial(buyer)
    assert status_of(second_trial.value)[1] == "TRIAL_ALREADY_USED"

    order = await shop.place_mall(buyer, [(plus_sku, 2), (plain_sku, 1)])

    assert order.state == pb.ORDER_STATE_PENDING_PAYMENT
    prices = {item.sku_id: (item.unit_price_minor, item.plus_price) for item in order.items}
    assert prices == {plus_sku: (4990, True), plain_sku: (1200, False)}
    assert order.total_minor == order.payment.amount_minor == 2 * 4990 + 1200
    assert await shop.stock(MALL, plus_sku) == (8, 2)

    paid = await shop.pay(order)
    assert paid.state == pb.ORDER_STATE_PAID
    # Catalog commits the reservation when it reads OrderPaid: the two units leave for good.
    await eventually_equal(lambda: shop.stock(MALL, plus_sku), (8, 0))

    operator = shop.token(MALL, Role.OPERATOR, subject="ops")
    shipped = await shop.orders.MarkShipped(
        pb.MarkShippedRequest(order_id=order.order_id, idempotency_key="ship-1", tracking_number="SF1234567890"),
        metadata=operator,
    )
    assert shipped.state == pb.ORDER_STATE_SHIPPED
    delivered = await shop.orders.ConfirmDelivery(
        pb.ConfirmDeliveryRequest(order_id=order.order_id, idempotency_key="got-it"), metadata=shop.as_user(buyer)
    )
    assert delivered.state == pb.ORDER_STATE_DELIVERED

    assert await shop.event_names(order.order_id) == [
        "OrderPlaced",
        "OrderPaid",
        "OrderShipped",
        "OrderDelivered",
    ]
    paid_event = (await shop.events_of(order.order_id))[1]
    assert isinstance(paid_event, events.OrderPaid)
    assert (paid_event.user_id, paid_event.amount_minor, paid_event.item_count) == (buyer, order.total_minor, 3)


async def test_a_buyer_without_plus_pays_the_normal_price(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5, price=5990, plus_price=4990)
    buyer = await shop.register(MALL)

    order = await shop.place_mall(buyer, [(sku, 1)])

    assert (order.items[0].unit_price_minor, order.items[0].plus_price, order.total_minor) == (5990, False, 5990)


async def test_an_order_beyond_the_stock_is_refused_and_leaves_nothing_behind(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=2)
    buyer = await shop.register(MALL)
    before = await shop.row_counts()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.place_mall(buyer, [(sku, 3)])

    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "OUT_OF_STOCK")
    assert await shop.row_counts() == before
    assert await shop.stock(MALL, sku) == (2, 0)


async def test_an_unlisted_sku_cannot_be_ordered(shop: Shop) -> None:
    buyer = await shop.register(MALL)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.place_mall(buyer, [(f"sku-{uuid.uuid4().hex[:8]}", 1)])
    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_LISTED")


async def test_a_buyer_who_has_just_bought_plus_pays_the_plus_price_at_once(shop: Shop) -> None:
    plus_sku = await shop.new_sku(MALL, stock=10, price=5990, plus_price=4990)
    buyer = await shop.register(MALL)
    before = await shop.place_mall(buyer, [(plus_sku, 1)])  # "not a member" is asked and answered
    assert before.total_minor == 5990
    await shop.buy_trial(buyer)
    after = await shop.place_mall(buyer, [(plus_sku, 1)])  # a moment later: no stale "not a member"
    assert (after.total_minor, after.items[0].plus_price) == (4990, True)
