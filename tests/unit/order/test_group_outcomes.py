"""A group's outcome and catalog's lost stock over a fake unit of work: completed groups move their paid
orders on and settle the rest, failed groups refund or cancel theirs, and a replay changes nothing."""

from __future__ import annotations

import pytest

from libs.core import BusinessLine
from services.order.domain.model import CancelReason, Order, OrderState, RefundReason
from services.order.service_layer import orders
from tests.unit.order.fakes import FakeUnitOfWork
from tests.unit.order.given import GROUP, NOW, POLICY, group_order, mall_order, paid, read


@pytest.fixture
def pingou() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.PINGOU)


async def complete(uow: FakeUnitOfWork, *members: Order) -> list[Order]:
    async with uow:
        return await orders.complete_group(uow, GROUP, [m.order_id for m in members], policy=POLICY, now=NOW)


async def fail(uow: FakeUnitOfWork) -> list[Order]:
    async with uow:
        return await orders.fail_group(uow, GROUP, policy=POLICY, now=NOW)


def refund_reasons(uow: FakeUnitOfWork, order: Order) -> list[RefundReason]:
    return [s.refund.reason for s in uow.tables.refunds.values() if s.refund.order_id == order.order_id]


async def test_a_completed_group_moves_the_paid_orders_it_names_on(pingou: FakeUnitOfWork) -> None:
    first = await paid(pingou, await group_order(pingou, "seat-1"), "pay-1")
    second = await paid(pingou, await group_order(pingou, "seat-2"), "pay-2")
    moved = await complete(pingou, first, second)

    assert [(o.order_id, o.state) for o in moved] == sorted(
        [(first.order_id, OrderState.GROUP_COMPLETED), (second.order_id, OrderState.GROUP_COMPLETED)]
    )
    assert pingou.published_types()[-2:] == ["OrderGroupCompleted", "OrderGroupCompleted"]


async def test_a_completed_group_settles_the_orders_that_lost_their_seat(pingou: FakeUnitOfWork) -> None:
    member = await paid(pingou, await group_order(pingou, "seat-1"), "pay-1")
    paid_too_late = await paid(pingou, await group_order(pingou, "seat-2"), "pay-2")
    unpaid = await group_order(pingou, "seat-3")
    await complete(pingou, member)

    assert (await read(pingou, member.order_id)).state is OrderState.GROUP_COMPLETED
    assert (await read(pingou, paid_too_late.order_id)).state is OrderState.REFUNDING
    assert refund_reasons(pingou, paid_too_late) == [RefundReason.SEAT_RELEASED]
    cancelled = await read(pingou, unpaid.order_id)
    assert (cancelled.state, cancelled.cancel_reason) == (OrderState.CANCELLED, CancelReason.SEAT_RELEASED)


async def test_a_completed_group_naming_no_orders_completes_every_paid_one_and_leaves_the_unpaid(
    pingou: FakeUnitOfWork,
) -> None:
    member = await paid(pingou, await group_order(pingou, "seat-1"))
    unpaid = await group_order(pingou, "seat-2")
    moved = await complete(pingou)
    assert [o.order_id for o in moved] == [member.order_id]
    assert (await read(pingou, unpaid.order_id)).state is OrderState.PENDING_PAYMENT


async def test_a_completed_group_replayed_changes_nothing(pingou: FakeUnitOfWork) -> None:
    member = await paid(pingou, await group_order(pingou, "seat-1"))
    await complete(pingou, member)
    events_before = len(pingou.published)
    assert await complete(pingou, member) == []
    assert len(pingou.published) == events_before


async def test_a_failed_group_refunds_its_paid_orders_and_cancels_its_unpaid_ones(pingou: FakeUnitOfWork) -> None:
    buyer = await paid(pingou, await group_order(pingou, "seat-1"))
    unpaid = await group_order(pingou, "seat-2")
    changed = await fail(pingou)

    assert {o.order_id: o.state for o in changed} == {
        buyer.order_id: OrderState.REFUNDING,
        unpaid.order_id: OrderState.CANCELLED,
    }
    assert refund_reasons(pingou, buyer) == [RefundReason.GROUP_FAILED]
    assert (await read(pingou, unpaid.order_id)).cancel_reason is CancelReason.GROUP_FAILED
    assert GROUP in pingou.tables.failed_groups  # remembered for a seat's order placed after it


async def test_a_failed_group_replayed_refunds_nobody_twice(pingou: FakeUnitOfWork) -> None:
    await paid(pingou, await group_order(pingou, "seat-1"))
    await fail(pingou)
    events_before, refunds_before = len(pingou.published), len(pingou.tables.refunds)
    assert await fail(pingou) == []
    assert (len(pingou.published), len(pingou.tables.refunds)) == (events_before, refunds_before)


async def test_a_free_leaders_order_of_a_failed_group_is_refunded_at_once_without_money(
    pingou: FakeUnitOfWork,
) -> None:
    leader = await group_order(pingou, "seat-1", price=0, leader=True)
    (changed,) = await fail(pingou)
    assert (changed.order_id, changed.state) == (leader.order_id, OrderState.REFUNDED)
    assert pingou.tables.refunds == {}
    assert pingou.published_types()[-2:] == ["OrderRefunding", "OrderRefunded"]


# --- catalog could not commit the stock


async def test_a_paid_order_that_lost_its_stock_is_refunded() -> None:
    uow = FakeUnitOfWork(line=BusinessLine.MALL)
    order = await paid(uow, await mall_order(uow))
    async with uow:
        refunded = await orders.refund_lost_stock(uow, order.order_id, policy=POLICY, now=NOW)
    assert refunded is not None
    assert refunded.state is OrderState.REFUNDING
    assert refund_reasons(uow, order) == [RefundReason.STOCK_UNAVAILABLE]


async def test_lost_stock_of_an_order_already_refunding_or_unknown_changes_nothing() -> None:
    uow = FakeUnitOfWork(line=BusinessLine.MALL)
    order = await paid(uow, await mall_order(uow))
    async with uow:
        await orders.refund_lost_stock(uow, order.order_id, policy=POLICY, now=NOW)
    events_before = len(uow.published)
    async with uow:
        again = await orders.refund_lost_stock(uow, order.order_id, policy=POLICY, now=NOW)
        unknown = await orders.refund_lost_stock(uow, "mo_none", policy=POLICY, now=NOW)
    assert (again, unknown) == (None, None)
    assert len(uow.published) == events_before
    assert len(uow.tables.refunds) == 1
