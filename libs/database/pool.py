"""asyncpg pools."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

import asyncpg

from libs.core import BusinessLine
from libs.database.migrations import check_identifier, schema_name
from libs.logs import get_logger

log = get_logger(__name__)


async def create_pool(
    dsn: str,
    *,
    schema: str,
    application_name: str,
    min_size: int = 1,
    max_size: int = 10,
) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified table names in `schema` only.

    A connection goes back to the pool without asyncpg's reset query (advisory unlocks, CLOSE ALL,
    UNLISTEN, RESET ALL): one more round trip for every statement on the hot path, to undo session state
    that pooled connections never take (advisory locks and LISTEN live on the relay's own connection,
    settings are the pool's own). An open transaction is still rolled back by asyncpg itself."""
    check_identifier(schema)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": application_name[:63]},
    )
    return pool


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset (see create_pool)."""


async def create_line_pools(
    dsn: str, *, service: str, lines: Iterable[BusinessLine], max_size: int = 10
) -> dict[BusinessLine, asyncpg.Pool]:
    """One pool per served line, each bound to that line's schema of the service."""
    return {
        line: await create_pool(
            dsn, schema=schema_name(service, line), application_name=f"{service}-{line}", max_size=max_size
        )
        for line in sorted(lines)
    }


async def close_pools(pools: Mapping[BusinessLine, asyncpg.Pool], *, grace_seconds: float = 10.0) -> None:
    """Close gracefully; a connection still held after `grace_seconds` (a bug elsewhere) is cut, so shutdown
    never hangs on it."""
    for pool in pools.values():
        try:
            await asyncio.wait_for(pool.close(), grace_seconds)
        except TimeoutError:
            log.error("pool_close_timed_out", grace_seconds=grace_seconds)
            pool.terminate()
