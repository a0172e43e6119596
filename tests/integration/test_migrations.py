"""Versioned migrations applied per schema with yoyo."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from libs.core import BusinessLine
from libs.database import migrate, schema_name
from libs.events import MIGRATIONS
from tests.notes_service.app import MIGRATIONS as NOTES_MIGRATIONS

pytestmark = pytest.mark.infra


async def test_each_line_schema_gets_its_own_tables_and_a_second_run_applies_nothing(
    database_url: str,
) -> None:
    service = f"m{uuid.uuid4().hex[:6]}"
    sources = [MIGRATIONS, NOTES_MIGRATIONS]
    for line in BusinessLine:
        applied = await asyncio.to_thread(migrate, database_url, schema=schema_name(service, line), sources=sources)
        assert applied == ["events_0001_outbox_inbox", "events_0002_outbox_retry_and_key_order", "notes_0001_notes"]
    again = await asyncio.to_thread(
        migrate, database_url, schema=schema_name(service, BusinessLine.PINGOU), sources=sources
    )
    assert again == []

    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE $1 AND table_name IN ('notes', 'outbox', 'inbox')",
            f"{service}_%",
        )
    finally:
        await connection.close()
    assert sorted((row["table_schema"], row["table_name"]) for row in tables) == sorted(
        (f"{service}_{line.value}", table) for line in BusinessLine for table in ("inbox", "notes", "outbox")
    )


def test_schema_names_refuse_anything_but_plain_identifiers() -> None:
    assert schema_name("catalog") == "catalog"
    assert schema_name("segmentation", BusinessLine.MALL) == "segmentation_mall"
    with pytest.raises(ValueError, match="not a safe SQL identifier"):
        schema_name('x"; DROP SCHEMA public; --')
