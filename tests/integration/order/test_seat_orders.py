"""A seat's order placed from groupbuy's SeatHeld (published here as groupbuy's relay would): under the
id the join gave the buyer, once however often the event comes, without a catalog reservation (the unit
came from groupbuy's allotment); calls naming it may come first and wait for it; its group's outcome
settles it like any group order."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import pytest
from pingou.events.v1 import envelope_pb2
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import BusinessLine
from libs.database import create_pool, schema_name
from libs.events import dead_letter_topic, topic_name
from services.order.domain.model import order_id_for
from services.order.entrypoints.jobs import OrderJobs
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork
from tests.integration.order.conftest import Shop, status_of
from tests.support.kafka import read_topic
from tests.support.waiting import eventually, eventually_equal

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
WAIT = 1.5  # ORDER_PLACEMENT_WAIT_SECONDS of this module's order service
T = TypeVar("T")


@pytest.fixture(scope="module")
def order_options() -> dict[str, Any]:
    return {"order_placement_wait_seconds": WAIT}


def _group_id() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"


def _seat_held(
    user_id: str, sku_id: str, group_id: str, *, price: int = 1590, leader: bool = False, **fields: Any
) -> groupbuy_events.SeatHeld:
    """SeatHeld as groupbuy publishes it: the order id named from the buyer and the seat id."""
    now = datetime.now(UTC)
    seat_id = fields.pop("seat_id", f"seat-{uuid.uuid4().hex}")
    return groupbuy_events.SeatHeld(
        group_id=group_id,
        user_id=user_id,
        held_at=timestamp(fields.pop("held_at", now)),
        seat_id=seat_id,
        sku_id=sku_id,
        leader=leader,
        pay_by=timestamp(fields.pop("pay_by", now + timedelta(minutes=15))),
        order_id=fields.pop("order_id", order_id_for(PINGOU, user_id, seat_id)),
        unit_price_minor=price,
        shipping_city="菏泽",
        channel=pb.CHANNEL_WECHAT_MINI_PROGRAM,
        group_expires_at=timestamp(fields.pop("group_expires_at", now + timedelta(hours=24))),
        **fields,
    )


async def _placed(shop: Shop, held: groupbuy_events.SeatHeld, event_id: uuid.UUID | None = None) -> pb.Order:
    """Publishes the SeatHeld and waits until its order is there."""
    await shop.publish_group_event(held.group_id, held, event_id)
    await eventually(lambda: _exists(shop, held.order_id))
    return await shop.get(held.order_id)


async def _exists(shop: Shop, order_id: str) -> bool:
    return await shop.count("SELECT count(*) FROM order_pingou.orders WHERE order_id = $1", order_id) == 1


async def _reservations(shop: Shop, order_ids: list[str]) -> int:
    return await shop.count(
        "SELECT count(*) FROM catalog_pingou.reservations WHERE order_id = ANY($1::text[])", order_ids
    )


async def _timed(call: Awaitable[T]) -> tuple[T | grpc.aio.AioRpcError, float]:
    started = time.monotonic()
    try:
        outcome: T | grpc.aio.AioRpcError = await call
    except grpc.aio.AioRpcError as error:
        outcome = error
    return outcome, time.monotonic() - started


async def test_a_seat_held_places_the_seats_order_under_its_id_without_reserving_stock(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    buyer = await shop.register(PINGOU)
    group_id = _group_id()
    held = _seat_held(buyer, sku, group_id, price=1590)

    order = await _placed(shop, held)

    assert (order.order_id, order.user_id, order.kind, order.state) == (
        held.order_id,
        buyer,
        pb.ORDER_KIND_GROUP,
        pb.ORDER_STATE_PENDING_PAYMENT,
    )
    assert (order.total_minor, order.currency, order.group_id, order.seat_id, order.group_leader) == (
        1590,
        "CNY",
        group_id,
        held.seat_id,
        False,
    )
    assert [(item.sku_id, item.quantity, item.unit_price_minor) for item in order.items] == [(sku, 1, 1590)]
    assert (order.shipping_city, order.channel) == ("菏泽", pb.CHANNEL_WECHAT_MINI_PROGRAM)
    assert (order.payment.intent_id, order.payment.amount_minor) == (f"pi_{held.order_id}", 1590)
    assert order.payment.expires_at == held.pay_by
    assert order.created_at == held.held_at
    (row,) = await shop.fetch(
        "SELECT group_expires_at, paid_at FROM order_pingou.orders WHERE order_id = $1", held.order_id
    )
    assert (row["group_expires_at"], row["paid_at"]) == (held.group_expires_at.ToDatetime(tzinfo=UTC), None)
    assert await shop.event_names(held.order_id) == ["OrderPlaced"]
    # The unit came from groupbuy's allotment: catalog is not asked.
    assert await _reservations(shop, [held.order_id]) == 0
    assert await shop.stock(PINGOU, sku) == (10, 0)


async def test_a_seat_held_delivered_again_or_repeated_places_one_order_and_publishes_it_once(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    held = _seat_held(await shop.register(PINGOU), sku, _group_id())
    event_id, other_id = uuid.uuid4(), uuid.uuid4()

    await _placed(shop, held, event_id)
    await shop.publish_group_event(held.group_id, held, event_id)  # redelivered: the inbox skips it
    # The same seat under a new event id (and another price): the order id is taken, nothing changes.
    held.unit_price_minor = 990
    await shop.publish_group_event(held.group_id, held, other_id)
    await eventually_equal(
        lambda: shop.count(
            "SELECT count(*) FROM order_pingou.inbox WHERE event_id = ANY($1::uuid[])", [event_id, other_id]
        ),
        2,
    )

    assert await shop.count("SELECT count(*) FROM order_pingou.orders WHERE seat_id = $1", held.seat_id) == 1
    assert (await shop.get(held.order_id)).total_minor == 1590
    assert await shop.event_names(held.order_id) == ["OrderPlaced"]


async def test_a_free_leaders_seat_order_is_paid_on_the_spot(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    held = _seat_held(await shop.register(PINGOU), sku, _group_id(), price=0, leader=True)

    order = await _placed(shop, held)

    assert (order.state, order.total_minor, order.group_leader, order.paid_at) == (
        pb.ORDER_STATE_AWAITING_GROUP,
        0,
        True,
        held.held_at,
    )
    assert await shop.event_names(held.order_id) == ["OrderPlaced", "OrderPaid", "OrderAwaitingGroup"]
    assert await _reservations(shop, [held.order_id]) == 0


async def test_an_order_placed_through_place_group_order_for_the_seat_is_left_as_it_is(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    buyer = await shop.register(PINGOU)
    group_id = _group_id()
    seat_id = f"seat-{uuid.uuid4().hex}"
    earlier = await shop.place_group(buyer, sku, group_id, price=1590, key=seat_id, seat_id=seat_id)
    held = _seat_held(buyer, sku, group_id, price=1590, seat_id=seat_id)
    assert held.order_id == earlier.order_id  # one naming rule for both ways of placing a seat's order
    event_id = uuid.uuid4()

    await shop.publish_group_event(group_id, held, event_id)
    await eventually_equal(
        lambda: shop.count("SELECT count(*) FROM order_pingou.inbox WHERE event_id = $1", event_id), 1
    )

    assert await shop.get(earlier.order_id) == earlier
    assert await shop.event_names(earlier.order_id) == ["OrderPlaced"]
    assert await shop.stock(PINGOU, sku) == (9, 1)  # the first placement's reservation, and no other


async def test_calls_that_come_before_the_seat_held_wait_for_the_order(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    await _placed(shop, _seat_held(await shop.register(PINGOU), sku, _group_id()))  # the consumer is reading
    buyer = await shop.register(PINGOU)
    held = _seat_held(buyer, sku, _group_id(), price=1590)
    payment = pb.ConfirmPaymentRequest(
        order_id=held.order_id,
        intent_id=f"pi_{held.order_id}",
        payment_reference=f"wx-{uuid.uuid4().hex}",
        amount_minor=1590,
        currency="CNY",
    )

    # The buyer got the order id from the join, and pays (and looks) before the order service read SeatHeld.
    paying = asyncio.create_task(
        _timed(shop.orders.ConfirmPayment(payment, metadata=shop.payments(PINGOU), timeout=10))
    )
    looking = asyncio.create_task(
        _timed(
            shop.orders.GetOrder(pb.GetOrderRequest(order_id=held.order_id), metadata=shop.as_user(buyer), timeout=10)
        )
    )
    await asyncio.sleep(0.3)
    assert not paying.done()
    assert not looking.done()
    await shop.publish_group_event(held.group_id, held)
    (paid, paid_after), (seen, seen_after) = await paying, await looking

    assert isinstance(paid, pb.Order), paid
    assert isinstance(seen, pb.Order), seen
    assert (paid.order_id, paid.state, paid.payment_reference) == (
        held.order_id,
        pb.ORDER_STATE_AWAITING_GROUP,
        payment.payment_reference,
    )
    assert seen.order_id == held.order_id
    assert 0.3 <= paid_after < WAIT
    assert 0.3 <= seen_after < WAIT
    assert await shop.event_names(held.order_id) == ["OrderPlaced", "OrderPaid", "OrderAwaitingGroup"]


async def test_a_buyer_cancelling_before_the_seat_held_cancels_the_order_once_placed(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    await _placed(shop, _seat_held(await shop.register(PINGOU), sku, _group_id()))  # the consumer is reading
    buyer = await shop.register(PINGOU)
    held = _seat_held(buyer, sku, _group_id())
    cancel = pb.CancelOrderRequest(order_id=held.order_id, idempotency_key=f"cancel-{uuid.uuid4().hex}")

    cancelling = asyncio.ensure_future(shop.orders.CancelOrder(cancel, metadata=shop.as_user(buyer), timeout=10))
    await asyncio.sleep(0.3)
    await shop.publish_group_event(held.group_id, held)
    cancelled = await cancelling

    assert (cancelled.state, cancelled.cancel_reason) == (pb.ORDER_STATE_CANCELLED, pb.CANCEL_REASON_BY_BUYER)
    assert await shop.event_names(held.order_id) == ["OrderPlaced", "OrderCancelled"]


async def test_an_unknown_pingou_order_is_not_found_after_the_wait_and_a_mall_one_at_once(shop: Shop) -> None:
    pingou_buyer, mall_buyer = await shop.register(PINGOU), await shop.register(MALL)
    for line, buyer in ((PINGOU, pingou_buyer), (MALL, mall_buyer)):
        order_id = order_id_for(line, buyer, f"never-{uuid.uuid4().hex}")
        payment = pb.ConfirmPaymentRequest(
            order_id=order_id,
            intent_id=f"pi_{order_id}",
            payment_reference=f"wx-{uuid.uuid4().hex}",
            amount_minor=1590,
            currency="CNY",
        )
        refused, after = await _timed(shop.orders.ConfirmPayment(payment, metadata=shop.payments(line), timeout=10))
        looked_up, looked_after = await _timed(
            shop.orders.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=shop.service(line), timeout=10)
        )

        for error in (refused, looked_up):
            assert isinstance(error, grpc.aio.AioRpcError)
            assert status_of(error) == (grpc.StatusCode.NOT_FOUND, "ORDER_NOT_FOUND")
        if line is PINGOU:
            assert WAIT <= after < WAIT + 1.0
            assert WAIT <= looked_after < WAIT + 1.0
        else:
            assert after < 0.5  # a mall order is placed by the call that names it: nothing to wait for
            assert looked_after < 0.5


async def test_a_completed_group_moves_its_seat_orders_on(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    seats = [_seat_held(await shop.register(PINGOU), sku, group_id) for _ in range(2)]
    for held in seats:
        await shop.pay(await _placed(shop, held))

    await shop.publish_group_event(
        group_id,
        groupbuy_events.GroupCompleted(
            group_id=group_id, sku_id=sku, size=2, order_ids=[held.order_id for held in seats]
        ),
    )

    async def states() -> list[pb.OrderState.ValueType]:
        return [await shop.state_of(held.order_id) for held in seats]

    await eventually_equal(states, [pb.ORDER_STATE_GROUP_COMPLETED] * 2)
    for held in seats:
        assert await shop.event_names(held.order_id) == [
            "OrderPlaced",
            "OrderPaid",
            "OrderAwaitingGroup",
            "OrderGroupCompleted",
        ]
    assert await _reservations(shop, [held.order_id for held in seats]) == 0


async def test_a_failed_group_refunds_its_paid_seat_order_and_cancels_the_unpaid_one(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    paid_seat = _seat_held(await shop.register(PINGOU), sku, group_id)
    unpaid_seat = _seat_held(await shop.register(PINGOU), sku, group_id)
    paid = await shop.pay(await _placed(shop, paid_seat))
    await _placed(shop, unpaid_seat)

    await shop.publish_group_event(
        group_id,
        groupbuy_events.GroupFailed(
            group_id=group_id,
            sku_id=sku,
            size=3,
            paid_order_ids=[paid_seat.order_id],
            unpaid_order_ids=[unpaid_seat.order_id],
        ),
    )

    await eventually_equal(lambda: shop.state_of(paid_seat.order_id), pb.ORDER_STATE_REFUNDING)
    await eventually_equal(lambda: shop.state_of(unpaid_seat.order_id), pb.ORDER_STATE_CANCELLED)
    refunded = await shop.get(paid_seat.order_id)
    assert [(r.reason, r.amount_minor) for r in refunded.refunds] == [(pb.REFUND_REASON_GROUP_FAILED, 1590)]
    assert refunded.payment_reference == paid.payment_reference
    assert (await shop.get(unpaid_seat.order_id)).cancel_reason == pb.CANCEL_REASON_GROUP_FAILED


async def test_a_seat_order_placed_after_its_group_failed_is_cancelled_at_once(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    await shop.publish_group_event(group_id, groupbuy_events.GroupFailed(group_id=group_id, sku_id=sku, size=2))
    # Out of order (a replayed event, say): SeatHeld always precedes its group's outcome on the topic.
    leader = _seat_held(await shop.register(PINGOU), sku, group_id, price=0, leader=True)
    member = _seat_held(await shop.register(PINGOU), sku, group_id)
    for held in (leader, member):
        await shop.publish_group_event(group_id, held)

    await eventually_equal(lambda: shop.state_of(member.order_id), pb.ORDER_STATE_CANCELLED)
    await eventually_equal(lambda: shop.state_of(leader.order_id), pb.ORDER_STATE_REFUNDED)  # it cost nothing
    assert (await shop.get(member.order_id)).cancel_reason == pb.CANCEL_REASON_GROUP_FAILED
    assert await shop.event_names(member.order_id) == ["OrderPlaced", "OrderCancelled"]
    assert await shop.event_names(leader.order_id) == [
        "OrderPlaced",
        "OrderPaid",
        "OrderAwaitingGroup",
        "OrderRefunding",
        "OrderRefunded",
    ]


async def test_a_seat_held_without_an_order_id_places_nothing(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    older = _seat_held(await shop.register(PINGOU), sku, group_id, order_id="")  # from a groupbuy of before
    event_id = uuid.uuid4()

    await shop.publish_group_event(group_id, older, event_id)
    await _placed(shop, _seat_held(await shop.register(PINGOU), sku, group_id))  # read after it: same key

    assert await shop.count("SELECT count(*) FROM order_pingou.inbox WHERE event_id = $1", event_id) == 1
    assert await shop.count("SELECT count(*) FROM order_pingou.orders WHERE seat_id = $1", older.seat_id) == 0


async def test_a_seat_held_naming_another_id_than_its_seats_is_dead_lettered(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    buyer = await shop.register(PINGOU)
    wrong = _seat_held(buyer, sku, group_id, order_id=order_id_for(PINGOU, buyer, "some-other-seat"))
    event_id = uuid.uuid4()

    await shop.publish_group_event(group_id, wrong, event_id)
    await _placed(shop, _seat_held(await shop.register(PINGOU), sku, group_id))  # the consumer went on

    topic = dead_letter_topic(topic_name(PINGOU, "groupbuy", prefix=shop.prefix))

    def found(records: list[Any]) -> bool:
        return any(envelope_pb2.EventEnvelope.FromString(r.value).event_id == str(event_id) for r in records)

    await read_topic(shop.settings.kafka_bootstrap_servers, topic, until=found)
    assert not await _exists(shop, wrong.order_id)


async def test_a_groups_failure_is_forgotten_after_the_retention(shop: Shop) -> None:
    old, recent = _group_id(), _group_id()
    await shop.fetch(
        """INSERT INTO order_pingou.failed_groups (group_id, failed_at)
        VALUES ($1, now() - interval '15 days'), ($2, now() - interval '13 days')""",
        old,
        recent,
    )
    pool = await create_pool(
        shop.database_url, schema=schema_name("order", PINGOU), max_size=2, application_name="failed-groups-test"
    )
    try:
        jobs = OrderJobs(lambda: UnitOfWork(pool, PINGOU, topic_prefix=shop.prefix), policy=OrderPolicy(), batch_size=9)
        while await jobs.forget_old_failed_groups():
            pass
    finally:
        await pool.close()

    rows = await shop.fetch(
        "SELECT group_id FROM order_pingou.failed_groups WHERE group_id = ANY($1::text[])", [old, recent]
    )
    assert [row["group_id"] for row in rows] == [recent]
