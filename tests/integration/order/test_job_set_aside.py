"""The order service's durable jobs when one row cannot be settled (a poisoned row): it is set aside with its
error and the rows behind it are still settled, in this batch and the next. One test per job, against a
schema of its own on the real Postgres (the outbox shows what would be published)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from libs.core import BusinessLine
from services.order.bootstrap import LINE_MIGRATIONS
from services.order.entrypoints.jobs import OrderJobs
from services.order.service_layer import orders, refunds
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra
from tests.support.jobs import migrated_schema, poison, set_aside, set_aside_total

pytestmark = pytest.mark.infra

SCHEMA = "order_pingou"
PINGOU = BusinessLine.PINGOU


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_schema(infra, schema=SCHEMA, sources=LINE_MIGRATIONS) as db:
        yield db.pool


def _jobs(pool: asyncpg.Pool) -> OrderJobs:
    return OrderJobs(lambda: UnitOfWork(pool, PINGOU), policy=OrderPolicy(), batch_size=10)


async def _order(pool: asyncpg.Pool, order_id: str, *, pay_by: datetime, paid: bool = False) -> str:
    await pool.execute(
        """INSERT INTO orders (order_id, user_id, kind, state, total_minor, currency, channel, shipping_city, pay_by,
            payment_reference, paid_at)
        VALUES ($1, 'pu_buyer', 'mall', $2, 2500, 'CNY', 'pingou_app', '临沂', $3, $4, $5)""",
        order_id,
        "paid" if paid else "pending_payment",
        pay_by,
        f"wx-{order_id}" if paid else None,
        pay_by - timedelta(minutes=1) if paid else None,
    )
    return order_id


async def _published(pool: asyncpg.Pool, event_type: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT key FROM outbox WHERE event_type = $1 ORDER BY key", f"pingou.order.v1.{event_type}"
    )
    return [row["key"] for row in rows]


async def test_the_payment_timeout_sets_aside_an_order_it_cannot_cancel_and_cancels_the_others(
    pool: asyncpg.Pool,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    poisoned = await _order(pool, "po_poisoned", pay_by=long_ago - timedelta(minutes=1))  # first in the batch
    good = [await _order(pool, f"po_good_{n}", pay_by=long_ago) for n in range(2)]
    await poison(pool, table="orders", column="order_id", value=poisoned)
    counted = set_aside_total(orders.PAYMENT_TIMEOUT)

    assert await _jobs(pool).cancel_unpaid() == 3
    states = dict(await pool.fetch("SELECT order_id, state FROM orders"))
    assert states == {poisoned: "pending_payment", good[0]: "cancelled", good[1]: "cancelled"}
    assert await _published(pool, "OrderCancelled") == good
    (row,) = (await set_aside(pool, orders.PAYMENT_TIMEOUT)).values()
    assert (row["row_key"], row["attempts"]) == (poisoned, 1)
    assert "CheckViolationError" in row["error"]
    assert set_aside_total(orders.PAYMENT_TIMEOUT) == counted + 1

    later = await _order(pool, "po_later", pay_by=long_ago + timedelta(minutes=1))
    assert await _jobs(pool).cancel_unpaid() == 1  # the poisoned order no longer comes first
    assert await pool.fetchval("SELECT state FROM orders WHERE order_id = $1", later) == "cancelled"


async def test_the_refund_retry_sets_aside_a_refund_it_cannot_ask_again_for_and_asks_for_the_others(
    pool: asyncpg.Pool,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    for n in range(3):
        order_id = await _order(pool, f"po_refunding_{n}", pay_by=long_ago, paid=True)
        await pool.execute(
            """INSERT INTO refunds (refund_id, order_id, reason, state, amount_minor, currency, payment_reference,
                next_attempt_at, requested_at)
            VALUES ($1, $2, 'after_sale', 'requested', 2500, 'CNY', $3, $4, $4)""",
            f"prf_{n}",
            order_id,
            f"wx-{order_id}",
            long_ago + timedelta(minutes=n),
        )
        ids.append(f"prf_{n}")
    poisoned, *good = ids
    await poison(pool, table="refunds", column="refund_id", value=poisoned)

    assert await _jobs(pool).ask_again_for_refunds() == 3
    attempts = dict(await pool.fetch("SELECT refund_id, attempts FROM refunds"))
    assert attempts == {poisoned: 1, good[0]: 2, good[1]: 2}
    assert sorted(await _published(pool, "RefundRequested")) == ["po_refunding_1", "po_refunding_2"]
    assert list(await set_aside(pool, refunds.REFUND_RETRY)) == [poisoned]
    assert await _jobs(pool).ask_again_for_refunds() == 0  # the others are not due again yet; it is skipped


async def test_the_key_housekeeping_sets_aside_a_key_it_cannot_delete_and_deletes_the_others(
    pool: asyncpg.Pool,
) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    for key in ("poisoned", "old-1", "old-2"):
        await pool.execute(
            """INSERT INTO idempotency_keys (scope, idempotency_key, method, request_digest, created_at)
            VALUES ('pu_buyer', $1, 'PlaceGroupOrder', '\\x00', $2)""",
            key,
            old,
        )
    await poison(pool, table="idempotency_keys", column="idempotency_key", value="poisoned")

    assert await _jobs(pool).forget_old_keys() == 3
    assert [row["idempotency_key"] for row in await pool.fetch("SELECT idempotency_key FROM idempotency_keys")] == [
        "poisoned"
    ]
    assert list(await set_aside(pool, orders.OLD_KEYS)) == ["pu_buyer/poisoned"]
    assert await _jobs(pool).forget_old_keys() == 0


async def test_the_failed_group_housekeeping_sets_aside_a_group_it_cannot_forget_and_forgets_the_others(
    pool: asyncpg.Pool,
) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    for group_id in ("g-poisoned", "g-old-1", "g-old-2"):
        await pool.execute("INSERT INTO failed_groups (group_id, failed_at) VALUES ($1, $2)", group_id, old)
    await poison(pool, table="failed_groups", column="group_id", value="g-poisoned")

    assert await _jobs(pool).forget_old_failed_groups() == 3
    assert [row["group_id"] for row in await pool.fetch("SELECT group_id FROM failed_groups")] == ["g-poisoned"]
    assert list(await set_aside(pool, orders.OLD_FAILED_GROUPS)) == ["g-poisoned"]
    assert await _jobs(pool).forget_old_failed_groups() == 0
