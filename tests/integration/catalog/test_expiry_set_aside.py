"""The reservation expiry job when one reservation cannot be released (its row's data is not what the job
reads: a poisoned row): it is set aside with its error, and the reservations behind it are released and
their stock is back, in this batch and the next. Against a schema of its own on the real Postgres."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from libs.core import BusinessLine
from services.catalog.bootstrap import LINE_MIGRATIONS
from services.catalog.entrypoints.jobs import expire_reservations
from services.catalog.service_layer.inventory import RESERVATION_EXPIRY
from tests.conftest import Infra
from tests.support.jobs import migrated_schema, set_aside, set_aside_total

pytestmark = pytest.mark.infra

SCHEMA = "catalog_pingou"


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    sources = LINE_MIGRATIONS
    async with migrated_schema(infra, schema=SCHEMA, sources=sources) as db:
        yield db.pool


async def _expired(pool: asyncpg.Pool, order_id: str, *, items: list[dict[str, object]], ago: str) -> None:
    """A reservation of one unit of sku-1 (taken from its bucket 0) whose hold ran out `ago`."""
    await pool.execute("INSERT INTO stock (sku_id, bucket, available) VALUES ('sku-1', 0, 0) ON CONFLICT DO NOTHING")
    await pool.execute(
        f"""INSERT INTO reservations (order_id, items, state, expires_at)
        VALUES ($1, $2::jsonb, 'reserved', now() - interval '{ago}')""",  # noqa: S608  -- a fixed interval
        order_id,
        json.dumps(items),
    )
    await pool.execute("INSERT INTO reservation_parts VALUES ($1, 'sku-1', 0, 1)", order_id)


async def test_the_expiry_job_sets_aside_a_reservation_it_cannot_read_and_releases_the_others(
    pool: asyncpg.Pool,
) -> None:
    # Written by a version that named the fields otherwise: the job cannot read its items.
    await _expired(pool, "o-poisoned", items=[{"sku": "sku-1", "qty": 1}], ago="10 minutes")
    for order_id in ("o-1", "o-2"):
        await _expired(pool, order_id, items=[{"sku_id": "sku-1", "quantity": 1}], ago="5 minutes")
    counted = set_aside_total(RESERVATION_EXPIRY)

    assert await expire_reservations(pool, BusinessLine.PINGOU, prefix="") == 3
    states = dict(await pool.fetch("SELECT order_id, state FROM reservations"))
    assert states == {"o-poisoned": "reserved", "o-1": "released", "o-2": "released"}
    assert await pool.fetchval("SELECT available FROM stock WHERE sku_id = 'sku-1'") == 2
    released = await pool.fetch("SELECT key FROM outbox WHERE event_type = 'pingou.catalog.v1.StockReleased'")
    assert sorted(row["key"] for row in released) == ["o-1", "o-2"]
    (row,) = (await set_aside(pool, RESERVATION_EXPIRY)).values()
    assert row["row_key"] == "o-poisoned"
    assert "TypeError" in row["error"]
    assert set_aside_total(RESERVATION_EXPIRY) == counted + 1

    await _expired(pool, "o-3", items=[{"sku_id": "sku-1", "quantity": 1}], ago="1 minute")
    assert await expire_reservations(pool, BusinessLine.PINGOU, prefix="") == 1  # it no longer comes first
    assert await pool.fetchval("SELECT available FROM stock WHERE sku_id = 'sku-1'") == 3
