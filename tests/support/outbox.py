"""An outbox of its own per test: a fresh schema with the outbox and inbox, a fresh topic, and relays
that publish that outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from pingou.events.v1 import envelope_pb2
from pingou.testkit.v1 import notes_pb2

from libs.core import BusinessLine
from libs.database import create_pool, migrate
from libs.events import MIGRATIONS, OutboxEvent, OutboxRelay, append_event, append_events, ensure_topics
from libs.events.relay import RelayConfig
from tests.conftest import Infra
from tests.notes_service.app import MIGRATIONS as NOTES_MIGRATIONS
from tests.support.kafka import read_topic


class Scenario:
    """A fresh schema with outbox/inbox and a fresh topic, per test."""

    def __init__(self, infra: Infra, database_url: str, topic_prefix: str):
        suffix = uuid.uuid4().hex[:8]
        self.schema = f"outbox_{suffix}"
        self.topic_stem = f"{topic_prefix}pingou.outboxtest{suffix}"  # for more topics of the test's own
        self.topic = f"{self.topic_stem}.v1"
        self.database_url = database_url
        self.kafka = infra.kafka_bootstrap
        self.pool: asyncpg.Pool

    async def __aenter__(self) -> Scenario:
        await asyncio.to_thread(migrate, self.database_url, schema=self.schema, sources=[MIGRATIONS, NOTES_MIGRATIONS])
        await ensure_topics(self.kafka, [self.topic])
        self.pool = await create_pool(self.database_url, schema=self.schema, application_name="tests")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.pool.close()

    def relay(self, batch_size: int = 500, **config: Any) -> OutboxRelay:
        return OutboxRelay(
            dsn=self.database_url,
            schema=self.schema,
            bootstrap_servers=self.kafka,
            config=RelayConfig(batch_size=batch_size, **config),
        )

    async def pending(self) -> int:
        """Rows the relay has not yet recorded as published (set-aside ones excluded)."""
        return int(await self.pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NULL"))

    async def all_published(self) -> bool:
        return await self.pending() == 0

    async def append(self, key: str, text: str, *, topic: str | None = None) -> uuid.UUID:
        async with self.pool.acquire() as connection, connection.transaction():
            return await append_event(
                connection,
                topic=topic or self.topic,
                aggregate_id=key,
                line=BusinessLine.PINGOU,
                payload=notes_pb2.NoteCreated(note_id=key, author=key, text=text),
            )

    async def append_together(self, notes: Sequence[tuple[str, str]], *, topic: str | None = None) -> list[uuid.UUID]:
        """(key, text) notes appended in one transaction: the relay sees them all in one batch."""
        async with self.pool.acquire() as connection, connection.transaction():
            return await append_events(
                connection,
                [
                    OutboxEvent(
                        topic or self.topic,
                        key,
                        BusinessLine.PINGOU,
                        notes_pb2.NoteCreated(note_id=key, author=key, text=text),
                    )
                    for key, text in notes
                ],
            )

    async def delivered(self, count: int, *, topic: str | None = None) -> list[tuple[str, str, str]]:
        """The first `count` (event id, key, text) records of the topic, in each partition's order."""
        records = await read_topic(self.kafka, topic or self.topic, until=lambda got: len(got) >= count)
        return [
            (event_id, record.key.decode(), payload.text)
            for record in records
            for event_id, payload in [decode(record)]
        ]


def decode(record: object) -> tuple[str, notes_pb2.NoteCreated]:
    envelope = envelope_pb2.EventEnvelope.FromString(record.value)  # type: ignore[attr-defined]
    payload = notes_pb2.NoteCreated()
    envelope.payload.Unpack(payload)
    return envelope.event_id, payload
