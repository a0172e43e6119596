"""asyncpg pools."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import asyncpg

from libs.core import BusinessLine
from libs.database.migrations import check_identifier, schema_name


async def create_pool(
    dsn: str,
    *,
    schema: str,
    application_name: str,
    min_size: int = 1,
    max_size: int = 10,
) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified table names in `schema` only."""
    check_identifier(schema)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": application_name[:63]},
    )
    return pool


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


async def close_pools(pools: Mapping[BusinessLine, asyncpg.Pool]) -> None:
    for pool in pools.values():
        await pool.close()
