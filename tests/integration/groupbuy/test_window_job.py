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
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from services.groupbuy.bootstrap import HERE
from services.groupbuy.entrypoints.jobs import WindowJob
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra, fresh_database

pytestmark = pytest.mark.infra

SCHEMA = "groupbuy_pingou"


@pytest.fixture(scope="module")
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_database(infra) as url:
        await asyncio.to_thread(migrate, url, schema=SCHEMA, sources=[EVENT_MIGRATIONS, HERE / "migrations"])
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
