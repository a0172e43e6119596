"""Order's durable jobs over a fake unit of work: unpaid orders cancelled only once no payment made in
time can still be confirmed, and the housekeeping of old idempotency keys and failed groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import BusinessLine
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from services.order.domain.model import CancelReason, OrderState
from services.order.service_layer import orders
from tests.unit.order.fakes import FakeUnitOfWork
from tests.unit.order.given import BUYER, NOW, POLICY, mall_order, paid, read


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.MALL)


async def test_an_unpaid_order_is_cancelled_once_its_payment_can_no_longer_be_confirmed(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    closes = order.pay_by + PAYMENT_CONFIRMATION_GRACE
    async with uow:
        within_grace = await orders.cancel_unpaid_due(uow, now=closes, limit=10)
    async with uow:
        settled = await orders.cancel_unpaid_due(uow, now=closes + timedelta(seconds=1), limit=10)
    async with uow:
        again = await orders.cancel_unpaid_due(uow, now=closes + timedelta(minutes=5), limit=10)

    assert (within_grace.claimed, settled.claimed, again.claimed) == (0, 1, 0)
    stored = await read(uow, order.order_id)
    assert (stored.state, stored.cancel_reason) == (OrderState.CANCELLED, CancelReason.PAYMENT_TIMEOUT)
    assert uow.published[-1] == events.OrderCancelled(
        order_id=order.order_id,
        user_id=BUYER,
        reason=pb.CANCEL_REASON_PAYMENT_TIMEOUT,
        cancelled_at=timestamp(closes + timedelta(seconds=1)),
    )
    assert uow.published_types().count("OrderCancelled") == 1


async def test_the_payment_timeout_leaves_paid_orders_alone(uow: FakeUnitOfWork) -> None:
    order = await paid(uow, await mall_order(uow))
    async with uow:
        settled = await orders.cancel_unpaid_due(uow, now=NOW + timedelta(days=1), limit=10)
    assert settled.claimed == 0
    assert (await read(uow, order.order_id)).state is OrderState.PAID


async def test_the_payment_timeout_takes_the_oldest_first_and_skips_those_set_aside(uow: FakeUnitOfWork) -> None:
    older = await mall_order(uow, "k-1", now=NOW - timedelta(minutes=10))
    set_aside = await mall_order(uow, "k-2", now=NOW - timedelta(minutes=20))
    newer = await mall_order(uow, "k-3", now=NOW)
    uow.tables.set_aside.add((orders.PAYMENT_TIMEOUT.name, set_aside.order_id))
    async with uow:
        settled = await orders.cancel_unpaid_due(uow, now=NOW + timedelta(hours=1), limit=1)
    assert [o.order_id for o in settled.done] == [older.order_id]
    assert (await read(uow, newer.order_id)).state is OrderState.PENDING_PAYMENT
    assert (await read(uow, set_aside.order_id)).state is OrderState.PENDING_PAYMENT


async def test_old_idempotency_keys_are_forgotten_and_recent_ones_kept(uow: FakeUnitOfWork) -> None:
    await mall_order(uow, "k-1")
    now = datetime.now(UTC)  # keys are stamped by the database's clock
    async with uow:
        kept = await orders.forget_old_keys(uow, older_than=now - POLICY.key_retention, limit=10)
    async with uow:
        forgotten = await orders.forget_old_keys(uow, older_than=now + timedelta(seconds=1), limit=10)
    assert kept.claimed == 0
    assert forgotten.done == [(BUYER, "k-1")]
    assert uow.tables.keys == {}


async def test_old_failed_groups_are_forgotten(uow: FakeUnitOfWork) -> None:
    async with uow:
        await orders.fail_group(uow, "g-old", policy=POLICY, now=NOW - timedelta(days=15))
        await orders.fail_group(uow, "g-new", policy=POLICY, now=NOW)
    async with uow:
        settled = await orders.forget_old_failed_groups(uow, older_than=NOW - POLICY.failed_group_retention, limit=10)
    assert settled.done == ["g-old"]
    assert set(uow.tables.failed_groups) == {"g-new"}
