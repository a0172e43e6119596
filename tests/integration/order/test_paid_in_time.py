"""One rule for "paid in time" (libs.core.orders), followed by payment acceptance and the payment timeout: a
payment made by pay_by is accepted when its confirmation comes within PAYMENT_CONFIRMATION_GRACE, and the
payment-timeout job never cancels an order before that grace has passed, so the race of the issue (paid at
pay_by - 1 s, confirmed at pay_by + 3 s, the job running in between) pays the order. Against a schema of
its own on the real Postgres; the clocks are given, so the race is replayed exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pingou.events.v1 import envelope_pb2
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.core import BusinessLine, FailedPrecondition
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE, payment_intent_id
from services.order.bootstrap import LINE_MIGRATIONS
from services.order.entrypoints.jobs import OrderJobs
from services.order.service_layer.announcements import order_to_proto
from services.order.service_layer.payments import PaymentConfirmation, confirm_payment
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra
from tests.support.jobs import migrated_schema

pytestmark = pytest.mark.infra

SCHEMA = "order_pingou"
SECOND = timedelta(seconds=1)


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_schema(infra, schema=SCHEMA, sources=LINE_MIGRATIONS) as db:
        yield db.pool


def _uow(pool: asyncpg.Pool) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(pool, BusinessLine.PINGOU)


async def _seat_order(pool: asyncpg.Pool, order_id: str, *, pay_by: datetime) -> None:
    """A seat's order waiting for its payment until `pay_by` (the seat's hold)."""
    await pool.execute(
        """INSERT INTO orders (order_id, user_id, kind, state, total_minor, currency, channel, shipping_city, pay_by,
            group_id, seat_id, group_expires_at)
        VALUES ($1, 'pu_buyer', 'group', 'pending_payment', 1590, 'CNY', 'wechat_mini_program', '临沂', $2,
            'g-race', $1, $3)""",
        order_id,
        pay_by,
        pay_by + timedelta(hours=1),
    )


async def _cancel_job_at(pool: asyncpg.Pool, moment: datetime) -> int:
    return await OrderJobs(_uow(pool), policy=OrderPolicy(), batch_size=10, clock=lambda: moment).cancel_unpaid()


async def _confirm(pool: asyncpg.Pool, order_id: str, *, paid_at: datetime, at: datetime) -> pb.Order:
    payment = PaymentConfirmation(order_id, payment_intent_id(order_id), f"wx-{order_id}", 1590, "CNY", paid_at)
    return order_to_proto(
        await confirm_payment(_uow(pool), payment, policy=OrderPolicy(), now=at)
    )  # as the API answers


async def _events(pool: asyncpg.Pool, order_id: str) -> list[str]:
    rows = await pool.fetch("SELECT event_type FROM outbox WHERE key = $1 ORDER BY id", order_id)
    return [row["event_type"].rsplit(".", 1)[-1] for row in rows]


async def test_a_payment_at_pay_by_minus_1s_confirmed_at_pay_by_plus_3s_pays_the_order_and_counts(
    pool: asyncpg.Pool,
) -> None:
    pay_by = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    await _seat_order(pool, "po_race", pay_by=pay_by)

    # The payment-timeout job runs while the confirmation is on its way, and leaves the order alone.
    for moment in (pay_by, pay_by + SECOND, pay_by + 2 * SECOND):
        assert await _cancel_job_at(pool, moment) == 0
    paid = await _confirm(pool, "po_race", paid_at=pay_by - SECOND, at=pay_by + 3 * SECOND)

    assert paid.state == pb.ORDER_STATE_AWAITING_GROUP  # its seat counts: groupbuy reads OrderPaid
    assert await _cancel_job_at(pool, pay_by + PAYMENT_CONFIRMATION_GRACE + SECOND) == 0  # paid: not the job's
    assert await _events(pool, "po_race") == ["OrderPaid", "OrderAwaitingGroup"]
    (payload,) = await pool.fetch(
        "SELECT payload FROM outbox WHERE key = 'po_race' AND event_type = 'pingou.order.v1.OrderPaid'"
    )
    announced = events.OrderPaid()
    assert envelope_pb2.EventEnvelope.FromString(payload["payload"]).payload.Unpack(announced)
    assert (announced.group_id, announced.paid_at.ToDatetime(tzinfo=UTC)) == ("g-race", pay_by - SECOND)
    assert not await pool.fetchval("SELECT count(*) FROM refunds")


async def test_an_unpaid_order_is_cancelled_only_once_no_payment_can_be_confirmed_in_time(pool: asyncpg.Pool) -> None:
    pay_by = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    await _seat_order(pool, "po_unpaid", pay_by=pay_by)
    last_moment = pay_by + PAYMENT_CONFIRMATION_GRACE  # a confirmation arriving then is still accepted

    assert await _cancel_job_at(pool, last_moment) == 0
    assert await _cancel_job_at(pool, last_moment + timedelta(microseconds=1)) == 1
    assert await _events(pool, "po_unpaid") == ["OrderCancelled"]

    # A payment made in time whose confirmation comes after the grace is refused and refunded.
    with pytest.raises(FailedPrecondition) as refused:
        await _confirm(pool, "po_unpaid", paid_at=pay_by - SECOND, at=last_moment + SECOND)
    assert refused.value.reason == "ORDER_CANCELLED"
    assert await pool.fetchval("SELECT reason FROM refunds WHERE order_id = 'po_unpaid'") == "late_payment"
