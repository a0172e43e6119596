"""The rows a job set aside (table `job_set_aside`, migrations/jobs_0001): recorded with their error,
skipped by their job's claim, listed and put back in line by an operator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool


def not_set_aside(key_sql: str, *, job_param: str) -> str:
    """The condition a job's claim adds so that it skips its rows set aside: `key_sql` is the claimed row's
    key as text (as the job records it), `job_param` the placeholder of the job's name, e.g. "$3"."""
    # Both fragments are the claim's own constant SQL (a column expression, a placeholder), never values.
    return f"""NOT EXISTS (SELECT 1 FROM job_set_aside x
        WHERE x.job = {job_param} AND x.row_key = {key_sql} AND x.put_back_at IS NULL)"""  # noqa: S608


_RECORD = """
INSERT INTO job_set_aside AS x (job, row_key, error) VALUES ($1, $2, $3)
ON CONFLICT (job, row_key) DO UPDATE SET error = excluded.error, attempts = x.attempts + 1,
    set_aside_at = now(), put_back_at = NULL
RETURNING attempts
"""

_LIST = """
SELECT job, row_key, error, attempts, set_aside_at, put_back_at FROM job_set_aside
WHERE ($1::text IS NULL OR job = $1) AND ($2 OR put_back_at IS NULL)
ORDER BY set_aside_at, job, row_key LIMIT $3
"""

_PUT_BACK = """
UPDATE job_set_aside SET put_back_at = now()
WHERE job = $1 AND put_back_at IS NULL AND ($2::text[] IS NULL OR row_key = ANY($2::text[]))
RETURNING row_key
"""


@dataclass(frozen=True, slots=True)
class SetAsideRow:
    job: str
    row_key: str
    error: str
    attempts: int
    set_aside_at: datetime
    put_back_at: datetime | None


class SetAsideRows:
    """Over a transaction's connection (a job recording a row in its batch's transaction) or a pool."""

    def __init__(self, db: Executor):
        self._db = db

    async def record(self, job: str, row_key: str, error: str) -> int:
        """Sets the row aside (again, if it was put back); how many times it has failed."""
        attempts: int = await self._db.fetchval(_RECORD, job, row_key, error)
        return attempts

    async def listing(
        self, *, job: str | None = None, put_back_too: bool = False, limit: int = 100
    ) -> list[SetAsideRow]:
        rows = await self._db.fetch(_LIST, job, put_back_too, limit)
        return [SetAsideRow(**dict(row)) for row in rows]

    async def put_back(self, job: str, row_keys: Sequence[str] | None = None) -> list[str]:
        """Puts the job's rows set aside (these, or all of them) back in line: its next claims take them
        again. Returns the keys put back."""
        rows = await self._db.fetch(_PUT_BACK, job, None if row_keys is None else list(row_keys))
        return [row["row_key"] for row in rows]
