"""Changes of one order over a fake unit of work: cancelling, shipping, delivery and after-sale refunds,
each checked against the state machine, announced, and run once per idempotency key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import AlreadyExists, BusinessLine, FailedPrecondition, NotFound, PermissionDenied
from services.order.domain.model import CancelReason, Order, OrderState, RefundReason, RefundState
from services.order.service_layer import access, orders, transitions
from services.order.service_layer.announcements import order_to_proto
from services.order.service_layer.unit_of_work import UnitOfWork
from tests.unit.order.fakes import FakeUnitOfWork
from tests.unit.order.given import BUYER, NOW, POLICY, group_order, mall_order, paid, read


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.MALL)


@pytest.fixture
def pingou() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.PINGOU)


Change = Callable[[UnitOfWork], Awaitable[Order]]


async def change(uow: FakeUnitOfWork, order: Order, run: Change, *, key: str = "c-1", digest: bytes = b"c") -> pb.Order:
    """A keyed change of one order, as the servicer runs it (the key scoped to the order)."""
    changed = await orders.keyed(uow, scope=order.order_id, key=key, method="Change", digest=digest, change=run)
    return order_to_proto(changed)  # as the API answers


def cancel_by_buyer(order: Order) -> Change:
    return lambda uow: transitions.cancel(uow, order.order_id, reason=CancelReason.BY_BUYER, now=NOW)


def ship(order: Order) -> Change:
    return lambda uow: orders.mark_shipped(uow, order.order_id, tracking_number="SF1234567890", now=NOW)


def deliver(order: Order) -> Change:
    return lambda uow: orders.confirm_delivery(uow, order.order_id, now=NOW)


def after_sale(order: Order) -> Change:
    return lambda uow: orders.request_after_sale_refund(uow, order.order_id, policy=POLICY, now=NOW)


# --- cancelling


async def test_an_unpaid_order_is_cancelled_and_announced(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    answer = await change(uow, order, cancel_by_buyer(order))

    assert (answer.state, answer.cancel_reason) == (pb.ORDER_STATE_CANCELLED, pb.CANCEL_REASON_BY_BUYER)
    assert (await read(uow, order.order_id)).state is OrderState.CANCELLED
    assert uow.published[-1] == events.OrderCancelled(
        order_id=order.order_id, user_id=BUYER, reason=pb.CANCEL_REASON_BY_BUYER, cancelled_at=timestamp(NOW)
    )


async def test_a_retried_change_answers_the_first_even_once_the_order_moved_on(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    first = await change(uow, order, cancel_by_buyer(order))
    again = await change(uow, order, cancel_by_buyer(order))  # CANCELLED cannot be cancelled, but this is a retry
    assert again == first
    assert uow.published_types().count("OrderCancelled") == 1


async def test_a_change_key_reused_for_another_request_is_refused(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    await change(uow, order, cancel_by_buyer(order), digest=b"cancel")
    with pytest.raises(AlreadyExists) as caught:
        await change(uow, order, ship(order), digest=b"ship")
    assert caught.value.reason == "IDEMPOTENCY_KEY_REUSED"


async def test_a_paid_order_cannot_be_cancelled_and_the_refusal_writes_nothing(uow: FakeUnitOfWork) -> None:
    order = await paid(uow, await mall_order(uow))
    events_before = len(uow.published)
    with pytest.raises(FailedPrecondition) as caught:
        await change(uow, order, cancel_by_buyer(order))
    assert caught.value.reason == "INVALID_ORDER_STATE"
    assert caught.value.metadata == {"order_id": order.order_id, "state": "PAID"}
    assert (await read(uow, order.order_id)).state is OrderState.PAID
    assert (order.order_id, "c-1") not in uow.tables.keys  # the key stays free
    assert len(uow.published) == events_before


async def test_changing_an_unknown_order_is_not_found(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    unknown = replace(order, order_id="mo_none")
    with pytest.raises(NotFound) as caught:
        await change(uow, unknown, cancel_by_buyer(unknown))
    assert caught.value.reason == "ORDER_NOT_FOUND"


# --- shipping and delivery


async def test_a_paid_mall_order_ships_then_is_delivered(uow: FakeUnitOfWork) -> None:
    order = await paid(uow, await mall_order(uow))
    shipped = await change(uow, order, ship(order), key="ship")
    delivered = await change(uow, order, deliver(order), key="deliver")

    assert (shipped.state, delivered.state) == (pb.ORDER_STATE_SHIPPED, pb.ORDER_STATE_DELIVERED)
    stored = await read(uow, order.order_id)
    assert (stored.state, stored.tracking_number) == (OrderState.DELIVERED, "SF1234567890")
    assert uow.published[-2:] == [
        events.OrderShipped(order_id=order.order_id, tracking_number="SF1234567890", shipped_at=timestamp(NOW)),
        events.OrderDelivered(order_id=order.order_id, delivered_at=timestamp(NOW)),
    ]


async def test_a_group_order_does_not_ship_before_its_group_completed(pingou: FakeUnitOfWork) -> None:
    order = await paid(pingou, await group_order(pingou))
    assert order.state is OrderState.AWAITING_GROUP
    with pytest.raises(FailedPrecondition) as caught:
        await change(pingou, order, ship(order))
    assert caught.value.reason == "INVALID_ORDER_STATE"
    assert caught.value.metadata["state"] == "AWAITING_GROUP"
    assert (await read(pingou, order.order_id)).state is OrderState.AWAITING_GROUP


async def test_a_group_order_ships_once_its_group_completed(pingou: FakeUnitOfWork) -> None:
    order = await paid(pingou, await group_order(pingou))
    async with pingou:
        await orders.complete_group(pingou, order.group_id or "", [order.order_id], policy=POLICY, now=NOW)
    assert (await change(pingou, order, ship(order))).state == pb.ORDER_STATE_SHIPPED


@pytest.mark.parametrize("step", [ship, deliver], ids=["ship", "deliver"])
async def test_an_unpaid_order_neither_ships_nor_is_delivered(
    uow: FakeUnitOfWork, step: Callable[[Order], Change]
) -> None:
    order = await mall_order(uow)
    with pytest.raises(FailedPrecondition) as caught:
        await change(uow, order, step(order))
    assert caught.value.reason == "INVALID_ORDER_STATE"
    assert caught.value.metadata["state"] == "PENDING_PAYMENT"
    assert (await read(uow, order.order_id)).state is OrderState.PENDING_PAYMENT


# --- after-sale refunds


async def test_an_after_sale_refund_moves_a_paid_order_to_refunding_and_asks_for_the_money(
    uow: FakeUnitOfWork,
) -> None:
    order = await paid(uow, await mall_order(uow))
    answer = await change(uow, order, after_sale(order))

    stored = await read(uow, order.order_id)
    (refund,) = stored.refunds
    assert (answer.state, stored.state) == (pb.ORDER_STATE_REFUNDING, OrderState.REFUNDING)
    assert (refund.reason, refund.state, refund.amount_minor, refund.payment_reference, refund.attempts) == (
        RefundReason.AFTER_SALE,
        RefundState.REQUESTED,
        order.total_minor,
        "pay-1",
        1,
    )
    assert uow.tables.refunds[refund.refund_id].next_attempt_at == NOW + POLICY.refund_retry_base
    assert refund.refund_id.startswith("mrf_")
    assert uow.published_types()[-2:] == ["OrderRefunding", "RefundRequested"]
    refunding = uow.published[-2]
    assert isinstance(refunding, events.OrderRefunding)
    assert (refunding.refund_id, refunding.reason) == (refund.refund_id, pb.REFUND_REASON_AFTER_SALE)


async def test_a_delivered_order_can_still_be_refunded(uow: FakeUnitOfWork) -> None:
    order = await paid(uow, await mall_order(uow))
    await change(uow, order, ship(order), key="ship")
    await change(uow, order, deliver(order), key="deliver")
    assert (await change(uow, order, after_sale(order), key="refund")).state == pb.ORDER_STATE_REFUNDING


async def test_an_order_waiting_for_its_group_is_refunded_by_the_group_not_after_sale(pingou: FakeUnitOfWork) -> None:
    order = await paid(pingou, await group_order(pingou))
    with pytest.raises(FailedPrecondition) as caught:
        await change(pingou, order, after_sale(order))
    assert caught.value.reason == "INVALID_ORDER_STATE"
    assert pingou.tables.refunds == {}


async def test_an_unpaid_order_has_nothing_to_refund_after_sale(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    with pytest.raises(FailedPrecondition) as caught:
        await change(uow, order, after_sale(order))
    assert caught.value.reason == "INVALID_ORDER_STATE"
    assert uow.tables.refunds == {}


async def test_a_free_leaders_order_has_no_payment_to_refund_after_sale(pingou: FakeUnitOfWork) -> None:
    order = await group_order(pingou, price=0, leader=True)
    async with pingou:
        await orders.complete_group(pingou, order.group_id or "", [order.order_id], policy=POLICY, now=NOW)
    with pytest.raises(FailedPrecondition) as caught:
        await change(pingou, order, after_sale(order))
    assert caught.value.reason == "NOTHING_TO_REFUND"
    assert (await read(pingou, order.order_id)).state is OrderState.GROUP_COMPLETED


# --- whose order it is


async def test_the_buyer_of_an_order_is_known_and_anyone_else_is_refused(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    buyer = await access.buyer_of(uow, order.order_id, wait=timedelta(0))
    assert buyer == BUYER
    access.check_buyer(buyer, order.order_id, BUYER)
    with pytest.raises(PermissionDenied) as caught:
        access.check_buyer(buyer, order.order_id, "mu_9999")
    assert caught.value.reason == "NOT_THE_BUYER"


async def test_an_order_not_placed_is_looked_for_until_the_wait_is_over(uow: FakeUnitOfWork) -> None:
    assert await access.buyer_of(uow, "mo_none", wait=timedelta(milliseconds=50)) is None
    assert uow.commits >= 2  # looked again, each look in a transaction of its own
    with pytest.raises(PermissionDenied):
        access.check_buyer(None, "mo_none", BUYER)  # no order: refused like another buyer's
