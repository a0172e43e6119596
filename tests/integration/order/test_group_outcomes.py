"""Group orders and groupbuy's outcomes (published here as groupbuy's relay would): a completed group
moves its paid orders on and commits their stock; a failed group refunds each paid order once, cancels
the unpaid ones and releases all their stock, however often the event arrives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import BusinessLine
from tests.integration.order.conftest import Shop
from tests.support.waiting import eventually, eventually_equal

PINGOU = BusinessLine.PINGOU


def _group_id() -> str:
    return f"g-{uuid.uuid4().hex[:12]}"


async def _states(shop: Shop, orders: list[pb.Order]) -> list[int]:
    return [await shop.state_of(order.order_id) for order in orders]


async def test_a_group_order_is_placed_at_the_group_price_and_waits_for_its_group_once_paid(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    buyer = await shop.register(PINGOU)
    group_id = _group_id()
    ends = datetime.now(UTC) + timedelta(hours=24)

    order = await shop.place_group(
        buyer,
        sku,
        group_id,
        price=1590,
        pay_by=timestamp(datetime.now(UTC) + timedelta(minutes=15)),
        group_expires_at=timestamp(ends),
    )

    assert order.seat_id.startswith("seat-")
    assert (order.kind, order.state, order.total_minor, order.group_id) == (
        pb.ORDER_KIND_GROUP,
        pb.ORDER_STATE_PENDING_PAYMENT,
        1590,
        group_id,
    )
    assert await shop.stock(PINGOU, sku) == (9, 1)
    hold_ends = await shop.count(
        "SELECT extract(epoch FROM expires_at)::bigint FROM catalog_pingou.reservations WHERE order_id = $1",
        order.order_id,
    )
    assert hold_ends > ends.timestamp()  # the stock is held until the group ends, not just the payment limit

    paid = await shop.pay(order)

    assert paid.state == pb.ORDER_STATE_AWAITING_GROUP
    assert await shop.event_names(order.order_id) == ["OrderPlaced", "OrderPaid", "OrderAwaitingGroup"]
    assert await shop.stock(PINGOU, sku) == (9, 1)  # still held: the group may yet fail


async def test_a_free_leader_order_needs_no_payment(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=3)
    leader = await shop.register(PINGOU)

    order = await shop.place_group(leader, sku, _group_id(), price=0, leader=True)

    assert (order.state, order.total_minor, order.group_leader) == (pb.ORDER_STATE_AWAITING_GROUP, 0, True)
    assert await shop.event_names(order.order_id) == ["OrderPlaced", "OrderPaid", "OrderAwaitingGroup"]


async def test_a_completed_group_moves_its_orders_on_and_commits_their_stock(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    orders = [await shop.place_group(await shop.register(PINGOU), sku, group_id) for _ in range(3)]
    for order in orders:
        await shop.pay(order)

    completed = groupbuy_events.GroupCompleted(
        group_id=group_id, sku_id=sku, size=3, order_ids=[order.order_id for order in orders]
    )
    await shop.publish_group_event(group_id, completed)
    await shop.publish_group_event(group_id, completed)  # a duplicate under another event id

    async def all_completed() -> bool:
        return set(await _states(shop, orders)) == {pb.ORDER_STATE_GROUP_COMPLETED}

    await eventually(all_completed)
    await eventually_equal(lambda: shop.stock(PINGOU, sku), (7, 0))
    for order in orders:
        assert await shop.event_names(order.order_id) == [
            "OrderPlaced",
            "OrderPaid",
            "OrderAwaitingGroup",
            "OrderGroupCompleted",
        ]


async def test_a_completed_group_keeps_only_its_members_and_refunds_an_order_whose_seat_was_freed(
    shop: Shop,
) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    members = [await shop.place_group(await shop.register(PINGOU), sku, group_id) for _ in range(2)]
    # Its seat was freed at the hold's end while the payment was on its way; the payment still counted.
    left_out = await shop.place_group(await shop.register(PINGOU), sku, group_id)
    stale = await shop.place_group(await shop.register(PINGOU), sku, group_id)  # never paid
    for order in [*members, left_out]:
        await shop.pay(order)

    await shop.publish_group_event(
        group_id,
        groupbuy_events.GroupCompleted(
            group_id=group_id, sku_id=sku, size=2, order_ids=[order.order_id for order in members]
        ),
    )

    async def settled() -> bool:
        return await _states(shop, [*members, left_out, stale]) == [
            pb.ORDER_STATE_GROUP_COMPLETED,
            pb.ORDER_STATE_GROUP_COMPLETED,
            pb.ORDER_STATE_REFUNDING,
            pb.ORDER_STATE_CANCELLED,
        ]

    await eventually(settled)
    assert [r.reason for r in (await shop.get(left_out.order_id)).refunds] == [pb.REFUND_REASON_SEAT_RELEASED]
    assert (await shop.get(stale.order_id)).cancel_reason == pb.CANCEL_REASON_SEAT_RELEASED
    await eventually_equal(lambda: shop.stock(PINGOU, sku), (8, 0))  # two committed, two given back


async def test_a_failed_group_refunds_each_paid_order_once_and_releases_all_stock_even_when_told_twice(
    shop: Shop,
) -> None:
    sku = await shop.new_sku(PINGOU, stock=10)
    group_id = _group_id()
    paid = [await shop.place_group(await shop.register(PINGOU), sku, group_id) for _ in range(2)]
    for order in paid:
        await shop.pay(order)
    unpaid = await shop.place_group(await shop.register(PINGOU), sku, group_id)
    assert await shop.stock(PINGOU, sku) == (7, 3)

    failed = groupbuy_events.GroupFailed(
        group_id=group_id,
        sku_id=sku,
        size=3,
        paid_order_ids=[order.order_id for order in paid],
        unpaid_order_ids=[unpaid.order_id],
    )
    event_id, other_id = uuid.uuid4(), uuid.uuid4()
    await shop.publish_group_event(group_id, failed, event_id)
    await shop.publish_group_event(group_id, failed, event_id)  # redelivered: the inbox skips it
    await shop.publish_group_event(group_id, failed, other_id)  # the same news under a new id: states stop it

    async def settled() -> bool:
        states = await _states(shop, [*paid, unpaid])
        return states == [pb.ORDER_STATE_REFUNDING, pb.ORDER_STATE_REFUNDING, pb.ORDER_STATE_CANCELLED]

    await eventually(settled)
    await eventually_equal(lambda: shop.stock(PINGOU, sku), (10, 0))
    # Let every copy of the event be read before counting.
    await eventually_equal(
        lambda: shop.count(
            "SELECT count(*) FROM order_pingou.inbox WHERE event_id = ANY($1::uuid[])", [event_id, other_id]
        ),
        2,
    )
    for order in paid:
        current = await shop.get(order.order_id)
        assert [(r.reason, r.amount_minor, r.state) for r in current.refunds] == [
            (pb.REFUND_REASON_GROUP_FAILED, 1590, pb.REFUND_STATE_REQUESTED)
        ]
        requested = [e for e in await shop.events_of(order.order_id) if isinstance(e, events.RefundRequested)]
        # One refund; the provider is silent here, so the retry job may have asked again for it.
        assert {(e.refund.refund_id, e.payment_reference) for e in requested} == {
            (current.refunds[0].refund_id, current.payment_reference)
        }
    cancelled = await shop.get(unpaid.order_id)
    assert (cancelled.cancel_reason, list(cancelled.refunds)) == (pb.CANCEL_REASON_GROUP_FAILED, [])
    assert (
        await shop.count(
            """SELECT count(*) FROM order_pingou.refunds JOIN order_pingou.orders USING (order_id)
            WHERE group_id = $1""",
            group_id,
        )
        == 2
    )
