"""Durable jobs against a schema of their own: a migrated pool, rows the database refuses to change (a
poisoned row), and what the jobs set aside."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from prometheus_client import REGISTRY

from libs.database import create_pool, migrate
from libs.jobs import Job
from tests.conftest import Infra, fresh_database

# Refuses to change or delete the rows whose column TG_ARGV[0] holds one of the other arguments, as a
# constraint added since (or a trigger of another team) would: a check violation on that row alone.
_POISON = """
CREATE OR REPLACE FUNCTION poisoned_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(OLD) ->> TG_ARGV[0] = ANY(TG_ARGV[1:]) THEN
        RAISE EXCEPTION 'row % of % is refused', to_jsonb(OLD) ->> TG_ARGV[0], TG_TABLE_NAME
            USING ERRCODE = 'check_violation', CONSTRAINT = 'poisoned_row';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
"""


@dataclass(frozen=True)
class JobDatabase:
    url: str
    pool: asyncpg.Pool  # bound to the schema


@asynccontextmanager
async def migrated_schema(infra: Infra, *, schema: str, sources: Sequence[Path]) -> AsyncIterator[JobDatabase]:
    """`schema` of a fresh database, migrated with `sources`, and a pool on it."""
    async with fresh_database(infra) as url:
        await asyncio.to_thread(migrate, url, schema=schema, sources=sources)
        pool = await create_pool(url, schema=schema, application_name="test-jobs", max_size=6)
        try:
            yield JobDatabase(url, pool)
        finally:
            await pool.close()


async def poison(pool: asyncpg.Pool, *, table: str, column: str, value: str) -> str:
    """The database refuses every change of the row of `table` whose `column` (as text) is `value`; returns
    the name of the trigger that refuses it (drop it to cure the row)."""
    await pool.execute(_POISON)
    trigger = f"poisoned_{table}_{uuid.uuid4().hex[:8]}"
    literal = value.replace("'", "''")
    await pool.execute(
        f"""CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION poisoned_row('{column}', '{literal}')"""
    )
    return trigger


async def set_aside(pool: asyncpg.Pool, job: Job) -> dict[str, asyncpg.Record]:
    """The job's rows set aside now (not put back), by key."""
    rows = await pool.fetch(
        "SELECT * FROM job_set_aside WHERE job = $1 AND put_back_at IS NULL ORDER BY row_key", job.name
    )
    return {row["row_key"]: row for row in rows}


def set_aside_total(job: Job) -> float:
    """The job's set-aside counter (job_rows_set_aside_total), as Prometheus would scrape it."""
    value = REGISTRY.get_sample_value("job_rows_set_aside_total", {"service": job.service, "job": job.name})
    return value or 0.0
