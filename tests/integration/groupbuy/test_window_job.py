"""The window job against its own schema: it waits out the grace after a window ends, and replicas
running at once fail each due group exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest

from libs.core import BusinessLine
from libs.database import create_pool, migrate
from services.groupbuy.bootstrap import LINE_MIGRATIONS
from services.groupbuy.entrypoints.jobs import WindowJob
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra, fresh_database

pytestmark = pytest.mark.infra

SCHEMA = "groupbuy_pingou"


@pytest.fixture(scope="module")
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_database(infra) as url:
        sources = LINE_MIGRATIONS
        await asyncio.to_thread(migrate, url, schema=SCHEMA, sources=sources)
        created = await create_pool(url, schema=SCHEMA, application_name="test", max_size=10)
        try:
            yield created
        finally:
            await created.close()


async def _groups(pool: asyncpg.Pool, count: int, *, ended_ago: timedelta) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    now = datetime.now(UTC)
    await pool.executemany(
        """INSERT INTO groups (group_id, sku_id, leader_user_id, size, group_price_minor, leader_price_minor,
            share_code, opened_at, expires_at) VALUES ($1, 'sku-1', 'pu_1', 2, 100, 100, $2, $3, $4)""",
        [(i, uuid.uuid4().hex[:10], now - timedelta(days=1), now - ended_ago) for i in ids],
    )
    return ids


def _job(pool: asyncpg.Pool, *, grace: timedelta = timedelta(0), batch_size: int = 7) -> WindowJob:
    return WindowJob(partial(UnitOfWork, pool, BusinessLine.PINGOU), poll_seconds=0.01, grace=grace,
                     batch_size=batch_size)  # fmt: skip


async def test_a_group_fails_only_once_the_grace_after_its_window_has_passed(pool: asyncpg.Pool) -> None:
    (group_id,) = await _groups(pool, 1, ended_ago=timedelta(seconds=2))
    assert await _job(pool, grace=timedelta(seconds=30)).run_once() == 0
    assert await pool.fetchval("SELECT state FROM groups WHERE group_id = $1", group_id) == "open"
    assert await _job(pool, grace=timedelta(seconds=1)).run_once() == 1
    assert await pool.fetchval("SELECT state FROM groups WHERE group_id = $1", group_id) == "failed"


async def test_three_replicas_at_once_fail_each_due_group_exactly_once(pool: asyncpg.Pool) -> None:
    ids = await _groups(pool, 60, ended_ago=timedelta(seconds=1))
    jobs = [_job(pool) for _ in range(3)]
    counts = await asyncio.gather(*(_drain(job) for job in jobs))
    assert sum(counts) == 60
    failures = await pool.fetch(
        """SELECT key, count(*) AS n FROM outbox WHERE event_type = 'pingou.groupbuy.v1.GroupFailed'
        AND key = ANY($1::text[]) GROUP BY key""",
        [str(i) for i in ids],
    )
    assert sorted(row["key"] for row in failures) == sorted(str(i) for i in ids)
    assert {row["n"] for row in failures} == {1}


async def _drain(job: WindowJob) -> int:
    total = 0
    while handled := await job.run_once():
        total += handled
    return total


async def _held_seat(pool: asyncpg.Pool, group_id: uuid.UUID, *, order_id: str | None) -> uuid.UUID:
    seat_id = uuid.uuid4()
    now = datetime.now(UTC)
    await pool.execute(
        """INSERT INTO seats (seat_id, group_id, user_id, leader, request_key, invite_code, unit_price_minor,
            shipping_city, channel, held_at, pay_by, order_id)
        VALUES ($1, $2, $3, false, 'k', $4, 100, '临沂', 2, $5, $5, $6)""",
        seat_id,
        group_id,
        f"pu_{seat_id.hex[:8]}",
        uuid.uuid4().hex[:10],
        now - timedelta(hours=1),
        order_id,
    )
    await pool.execute("UPDATE groups SET seats_taken = seats_taken + 1 WHERE group_id = $1", group_id)
    return seat_id


async def test_a_group_waits_for_its_known_orders_events_until_the_fallback(pool: asyncpg.Pool) -> None:
    waiting, unknown = await _groups(pool, 2, ended_ago=timedelta(minutes=5))
    await _held_seat(pool, waiting, order_id="po_paid_in_time")  # its OrderPaid may still be on its way
    orderless = await _held_seat(pool, unknown, order_id=None)  # no order known: nothing to wait for
    assert await _job(pool).run_once() == 1
    states = dict(await pool.fetch("SELECT group_id, state FROM groups WHERE group_id = ANY($1)", [waiting, unknown]))
    assert states == {waiting: "open", unknown: "failed"}
    # Failing a group releases its held seats: no order can be placed or paid into it any more.
    assert await pool.fetchval("SELECT release_reason FROM seats WHERE seat_id = $1", orderless) == "group_closed"

    past_fallback = WindowJob(partial(UnitOfWork, pool, BusinessLine.PINGOU), poll_seconds=0.01,
                              fallback=timedelta(minutes=4))  # fmt: skip
    assert await past_fallback.run_once() == 1  # the events are taken as lost
    assert await pool.fetchval("SELECT state FROM groups WHERE group_id = $1", waiting) == "failed"
