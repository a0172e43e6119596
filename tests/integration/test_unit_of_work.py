"""The shared unit of work gives its connection back however it ends, so pools close on shutdown."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from libs.core import BusinessLine
from libs.database import close_pools, create_pool
from libs.events import UnitOfWork

pytestmark = pytest.mark.infra


class FailsToBegin(UnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        raise RuntimeError("repository set-up failed")


async def test_a_unit_of_work_that_fails_to_begin_returns_its_connection(database_url: str) -> None:
    pool = await create_pool(database_url, schema="public", application_name="tests", min_size=1, max_size=1)
    try:
        with pytest.raises(RuntimeError, match="set-up failed"):
            async with FailsToBegin(pool, BusinessLine.PINGOU):
                pass
        # With the pool's only connection leaked, this would wait forever.
        async with UnitOfWork(pool, BusinessLine.PINGOU) as uow:
            assert await uow.connection.fetchval("SELECT 1") == 1
    finally:
        await asyncio.wait_for(close_pools({BusinessLine.PINGOU: pool}), 15)
