"""The membership expiry job when one membership cannot be expired (the database refuses its row: a
poisoned row): it is set aside with its error, and the memberships behind it expire and are announced, in
this batch and the next. Against a schema of its own on the real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest

from libs.core import BusinessLine
from services.membership.bootstrap import LINE_MIGRATIONS
from services.membership.entrypoints.jobs import ExpiryJob
from services.membership.service_layer.memberships import EXPIRY
from services.membership.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra
from tests.support.jobs import migrated_schema, poison, set_aside, set_aside_total

pytestmark = pytest.mark.infra

SCHEMA = "membership_pingou"


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    sources = LINE_MIGRATIONS
    async with migrated_schema(infra, schema=SCHEMA, sources=sources) as db:
        yield db.pool


async def _ended(pool: asyncpg.Pool, user_id: str, *, ago: timedelta) -> None:
    ended = datetime.now(UTC) - ago
    await pool.execute(
        """INSERT INTO memberships (user_id, plan, state, started_at, expires_at)
        VALUES ($1, 'monthly', 'active', $2, $3)""",
        user_id,
        ended - timedelta(days=30),
        ended,
    )


async def test_the_expiry_job_sets_aside_a_membership_it_cannot_expire_and_expires_the_others(
    pool: asyncpg.Pool,
) -> None:
    await _ended(pool, "pu_poisoned", ago=timedelta(days=2))  # the first due
    for user_id in ("pu_1", "pu_2"):
        await _ended(pool, user_id, ago=timedelta(days=1))
    await poison(pool, table="memberships", column="user_id", value="pu_poisoned")
    job = ExpiryJob(partial(UnitOfWork, pool, BusinessLine.PINGOU), poll_seconds=0.01, batch_size=10)
    counted = set_aside_total(EXPIRY)

    batch = await job.run_once()
    assert (batch.claimed, sorted(m.user_id for m in batch.done), batch.set_aside) == (
        3,
        ["pu_1", "pu_2"],
        ["pu_poisoned"],
    )
    states = dict(await pool.fetch("SELECT user_id, state FROM memberships"))
    assert states == {"pu_poisoned": "active", "pu_1": "expired", "pu_2": "expired"}
    announced = await pool.fetch("SELECT key FROM outbox WHERE event_type = 'pingou.membership.v1.MembershipExpired'")
    assert sorted(row["key"] for row in announced) == ["pu_1", "pu_2"]
    (row,) = (await set_aside(pool, EXPIRY)).values()
    assert row["row_key"] == "pu_poisoned"
    assert "CheckViolationError" in row["error"]
    assert set_aside_total(EXPIRY) == counted + 1

    await _ended(pool, "pu_3", ago=timedelta(hours=1))
    assert [m.user_id for m in (await job.run_once()).done] == ["pu_3"]  # it no longer comes first
