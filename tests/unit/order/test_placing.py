"""Placing orders over a fake unit of work and fake catalog and membership: prices and PLUS prices, stock
reserved before the order exists, idempotency keys, free leaders, and a seat's order from SeatHeld."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.core import AlreadyExists, BusinessLine, FailedPrecondition, InvalidArgument
from services.order.domain.model import (
    CancelReason,
    MallPrice,
    OrderItem,
    OrderKind,
    OrderState,
    order_id_for,
)
from services.order.service_layer import orders
from services.order.service_layer.announcements import order_to_proto
from services.order.service_layer.orders import PlaceMallOrder
from tests.unit.order.fakes import FakeCatalog, FakeMembership, FakeUnitOfWork
from tests.unit.order.given import (
    BUYER,
    GROUP,
    NOW,
    PINGOU_BUYER,
    POLICY,
    PRICES,
    RICE,
    TEA,
    group_command,
    group_order,
    mall_command,
    read,
)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.MALL)


@pytest.fixture
def pingou() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.PINGOU)


async def place(
    uow: FakeUnitOfWork,
    catalog: FakeCatalog,
    command: PlaceMallOrder | None = None,
    *,
    membership: FakeMembership | None = None,
    digest: bytes = b"first",
) -> pb.Order:
    placed = await orders.place_mall_order(
        uow,
        catalog,
        membership or FakeMembership(),
        command or mall_command(),
        digest=digest,
        policy=POLICY,
        now=NOW,
    )
    return order_to_proto(placed)  # as the API answers


# --- mall orders


async def test_a_mall_order_is_priced_by_catalog_reserved_first_then_placed_and_announced(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog(PRICES)
    placed = await place(uow, catalog, mall_command(items=((TEA, 2),)))

    order_id = order_id_for(BusinessLine.MALL, BUYER, "k-1")
    stored = uow.tables.orders[order_id]
    assert placed == order_to_proto(stored)
    assert (stored.state, stored.kind, stored.total_minor, stored.currency) == (
        OrderState.PENDING_PAYMENT,
        OrderKind.MALL,
        10000,
        "CNY",
    )
    assert stored.items == (OrderItem(TEA, 2, 5000, 5000, plus_price=False),)
    assert stored.pay_by == NOW + POLICY.payment_limit
    assert catalog.reserved[order_id] == (BusinessLine.MALL, [(TEA, 2)], POLICY.payment_limit + POLICY.hold_margin)
    (placed_event,) = uow.published
    assert placed_event == events.OrderPlaced(order=placed)
    assert (uow.tables.outbox[0].topic, uow.tables.outbox[0].aggregate_id) == ("mall.order.v1", order_id)


async def test_a_member_pays_the_plus_price_where_a_listing_has_one(uow: FakeUnitOfWork) -> None:
    membership = FakeMembership([BUYER])
    placed = await place(uow, FakeCatalog(PRICES), mall_command(items=((RICE, 1), (TEA, 1))), membership=membership)
    assert [(item.sku_id, item.unit_price_minor, item.plus_price) for item in placed.items] == [
        (RICE, 2500, True),
        (TEA, 5000, False),
    ]
    assert placed.total_minor == 7500
    assert membership.asked == [BUYER]


async def test_someone_who_is_not_a_member_pays_the_price(uow: FakeUnitOfWork) -> None:
    placed = await place(uow, FakeCatalog(PRICES), mall_command(items=((RICE, 1),)), membership=FakeMembership())
    assert [(item.unit_price_minor, item.plus_price) for item in placed.items] == [(3000, False)]


async def test_membership_is_not_asked_when_no_listing_has_a_plus_price(uow: FakeUnitOfWork) -> None:
    membership = FakeMembership([BUYER])
    await place(uow, FakeCatalog(PRICES), mall_command(items=((TEA, 1),)), membership=membership)
    assert membership.asked == []


async def test_a_retried_placement_answers_the_first_without_pricing_or_reserving_again(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog(PRICES)
    first = await place(uow, catalog)
    catalog.prices[TEA] = MallPrice(9999, 0)  # a price change in between changes nothing for the retry
    again = await place(uow, catalog)

    assert again == first
    assert (len(catalog.priced), catalog.reserve_calls) == (1, 1)
    assert len(uow.tables.orders) == 1
    assert uow.published_types() == ["OrderPlaced"]


async def test_an_idempotency_key_reused_for_another_request_is_refused(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog(PRICES)
    await place(uow, catalog, digest=b"first")
    with pytest.raises(AlreadyExists) as caught:
        await place(uow, catalog, mall_command(items=((TEA, 5),)), digest=b"another")
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert catalog.reserve_calls == 1
    assert len(uow.published) == 1


async def test_an_order_of_a_sku_not_for_sale_is_refused_before_stock_is_reserved(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog(PRICES)
    with pytest.raises(FailedPrecondition) as caught:
        await place(uow, catalog, mall_command(items=((TEA, 1), ("sku-gone", 1))))
    assert caught.value.reason == "NOT_LISTED"
    assert caught.value.metadata == {"sku_id": "sku-gone"}
    assert (catalog.reserve_calls, uow.tables.orders, uow.tables.keys, uow.published) == (0, {}, {}, [])


async def test_an_order_no_payment_can_cover_is_refused_before_stock_is_reserved(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog({TEA: MallPrice(60_000_000, 0)})
    with pytest.raises(InvalidArgument) as caught:
        await place(uow, catalog, mall_command(items=((TEA, 2),)))
    assert caught.value.reason == "TOTAL_ABOVE_PAYMENT_CAP"
    assert (catalog.reserve_calls, uow.tables.orders) == (0, {})


async def test_an_order_catalog_cannot_reserve_is_not_placed_and_its_key_stays_free(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog(PRICES, refusal=FailedPrecondition("not enough", reason="OUT_OF_STOCK"))
    with pytest.raises(FailedPrecondition) as caught:
        await place(uow, catalog)
    assert caught.value.reason == "OUT_OF_STOCK"
    assert (uow.tables.orders, uow.tables.keys, uow.published) == ({}, {}, [])

    catalog.refusal = None  # restocked: the same key places the order now
    assert (await place(uow, catalog)).state == pb.ORDER_STATE_PENDING_PAYMENT


async def test_a_placement_retried_after_its_key_was_forgotten_answers_the_order_it_placed(uow: FakeUnitOfWork) -> None:
    catalog = FakeCatalog(PRICES)
    first = await place(uow, catalog)
    uow.tables.keys.clear()  # forget_old_keys ran
    again = await place(uow, catalog)
    assert again.order_id == first.order_id
    assert len(uow.tables.orders) == 1
    assert uow.published_types() == ["OrderPlaced"]


# --- group orders


async def test_a_group_order_is_placed_at_the_groups_price_and_holds_its_stock_until_the_group_ends(
    pingou: FakeUnitOfWork,
) -> None:
    catalog = FakeCatalog()
    command = group_command()
    placed = await orders.place_group_order(pingou, catalog, command, digest=b"d", policy=POLICY, now=NOW)

    stored = pingou.tables.orders[placed.order_id]
    assert placed.order_id == order_id_for(BusinessLine.PINGOU, PINGOU_BUYER, "seat-1")
    assert (stored.kind, stored.state, stored.total_minor, stored.group_id, stored.seat_id) == (
        OrderKind.GROUP,
        OrderState.PENDING_PAYMENT,
        1590,
        GROUP,
        "seat-1",
    )
    hold = command.group_expires_at - NOW + POLICY.group_hold_margin
    assert catalog.reserved[placed.order_id] == (BusinessLine.PINGOU, [("sku-hanfu", 1)], hold)
    assert pingou.published_types() == ["OrderPlaced"]


async def test_a_group_orders_hold_never_exceeds_catalogs_longest(pingou: FakeUnitOfWork) -> None:
    catalog = FakeCatalog()
    command = replace(group_command(), group_expires_at=NOW + timedelta(days=30))
    placed = await orders.place_group_order(pingou, catalog, command, digest=b"d", policy=POLICY, now=NOW)
    assert catalog.reserved[placed.order_id][2] == POLICY.max_hold


async def test_a_free_leaders_order_is_placed_already_paid(pingou: FakeUnitOfWork) -> None:
    order = await group_order(pingou, price=0, leader=True)

    assert (order.state, order.paid_at, order.payment_reference) == (OrderState.AWAITING_GROUP, NOW, None)
    assert pingou.published_types() == ["OrderPlaced", "OrderPaid", "OrderAwaitingGroup"]
    placed = pingou.published[0]
    assert isinstance(placed, events.OrderPlaced)
    assert placed.order.state == pb.ORDER_STATE_PENDING_PAYMENT  # placed, then paid on the spot


# --- a seat's order from SeatHeld


async def test_a_seats_order_is_placed_from_seat_held_without_reserving_stock(pingou: FakeUnitOfWork) -> None:
    command = group_command()
    order_id = order_id_for(BusinessLine.PINGOU, PINGOU_BUYER, "seat-1")
    held_at = NOW - timedelta(seconds=2)
    async with pingou:
        order = await orders.place_seat_order(
            pingou, command, order_id=order_id, held_at=held_at, policy=POLICY, now=NOW
        )
    assert order is not None
    assert (order.order_id, order.state, order.created_at) == (order_id, OrderState.PENDING_PAYMENT, held_at)
    assert pingou.tables.orders[order_id].total_minor == 1590
    assert pingou.published_types() == ["OrderPlaced"]


async def test_a_repeated_seat_held_leaves_the_order_as_it_is_and_publishes_nothing(pingou: FakeUnitOfWork) -> None:
    placed = await group_order(pingou, "seat-1")  # placed through PlaceGroupOrder for the same seat
    async with pingou:
        again = await orders.place_seat_order(
            pingou, group_command("seat-1"), order_id=placed.order_id, held_at=NOW, policy=POLICY, now=NOW
        )
    assert again is None
    assert await read(pingou, placed.order_id) == placed
    assert pingou.published_types() == ["OrderPlaced"]


@pytest.mark.parametrize(
    ("price", "leader", "state"),
    [(1590, False, OrderState.CANCELLED), (0, True, OrderState.REFUNDED)],
    ids=["unpaid", "free leader"],
)
async def test_a_seats_order_for_a_group_that_already_failed_is_settled_at_once(
    pingou: FakeUnitOfWork, price: int, leader: bool, state: OrderState
) -> None:
    async with pingou:
        await orders.fail_group(pingou, GROUP, policy=POLICY, now=NOW)
    command = group_command(price=price, leader=leader)
    order_id = order_id_for(BusinessLine.PINGOU, PINGOU_BUYER, "seat-1")
    async with pingou:
        order = await orders.place_seat_order(pingou, command, order_id=order_id, held_at=NOW, policy=POLICY, now=NOW)

    assert order is not None
    assert order.state is state
    assert pingou.tables.orders[order_id].state is state
    if state is OrderState.CANCELLED:
        assert order.cancel_reason is CancelReason.GROUP_FAILED
        assert pingou.published_types() == ["OrderPlaced", "OrderCancelled"]
    else:
        assert pingou.tables.refunds == {}  # nothing was paid: no money to send back
        assert pingou.published_types() == [
            "OrderPlaced",
            "OrderPaid",
            "OrderAwaitingGroup",
            "OrderRefunding",
            "OrderRefunded",
        ]
        refunding = pingou.published[3]
        assert isinstance(refunding, events.OrderRefunding)
        assert refunding.reason == pb.REFUND_REASON_GROUP_FAILED
