"""Reading a test database directly: what a service wrote, counted or fetched with plain SQL."""

from __future__ import annotations

from typing import Any

import asyncpg


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
        return rows
    finally:
        await connection.close()


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    """The first column of the first row, or None when there is no row."""
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def count(dsn: str, sql: str, *args: Any) -> int:
    """The first column of the first row (a `SELECT count(*) ...`)."""
    return int(await fetchval(dsn, sql, *args))
