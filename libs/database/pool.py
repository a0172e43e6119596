"""asyncpg pools."""

from __future__ import annotations

import asyncpg

from libs.database.migrations import check_identifier


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
