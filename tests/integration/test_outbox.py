"""Transactional outbox and relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from pingou.events.v1 import envelope_pb2
from pingou.testkit.v1 import notes_pb2

from libs.core import BusinessLine
from libs.database import create_pool, migrate
from libs.events import (
    MIGRATIONS,
    IdempotentConsumer,
    OutboxEvent,
    OutboxRelay,
    append_event,
    append_events,
    ensure_topics,
)
from libs.events.relay import RelayConfig
from tests.conftest import REPO, Infra
from tests.notes_service.app import MIGRATIONS as NOTES_MIGRATIONS
from tests.notes_service.app import count_note
from tests.support.kafka import read_topic
from tests.support.waiting import eventually, stop

pytestmark = pytest.mark.infra


class Scenario:
    """A fresh schema with outbox/inbox and a fresh topic, per test."""

    def __init__(self, infra: Infra, database_url: str, topic_prefix: str):
        suffix = uuid.uuid4().hex[:8]
        self.schema = f"outbox_{suffix}"
        self.topic = f"{topic_prefix}pingou.outboxtest{suffix}.v1"
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

    def relay(self, batch_size: int = 500) -> OutboxRelay:
        return OutboxRelay(
            dsn=self.database_url,
            schema=self.schema,
            bootstrap_servers=self.kafka,
            config=RelayConfig(batch_size=batch_size),
        )

    async def append(self, key: str, text: str) -> uuid.UUID:
        async with self.pool.acquire() as connection, connection.transaction():
            return await append_event(
                connection,
                topic=self.topic,
                aggregate_id=key,
                line=BusinessLine.PINGOU,
                payload=notes_pb2.NoteCreated(note_id=key, author=key, text=text),
            )


@pytest.fixture
async def scenario(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Scenario]:
    async with Scenario(infra, database_url, topic_prefix) as created:
        yield created


def decode(record: object) -> tuple[str, notes_pb2.NoteCreated]:
    envelope = envelope_pb2.EventEnvelope.FromString(record.value)  # type: ignore[attr-defined]
    payload = notes_pb2.NoteCreated()
    envelope.payload.Unpack(payload)
    return envelope.event_id, payload


async def test_each_committed_change_gives_exactly_one_event_in_order_per_key(scenario: Scenario) -> None:
    appended = []
    for sequence in range(300):
        appended.append(await scenario.append(f"key-{sequence % 7}", str(sequence)))
    relay = asyncio.create_task(scenario.relay(batch_size=64).run())
    try:
        records = await read_topic(scenario.kafka, scenario.topic, until=lambda got: len(got) >= 300)
    finally:
        await stop(relay)
    events = [decode(record) for record in records]
    assert sorted(event_id for event_id, _ in events) == sorted(str(event_id) for event_id in appended)
    by_key: dict[str, list[int]] = defaultdict(list)
    for record, (_, payload) in zip(records, events, strict=True):
        assert record.key.decode() == payload.author
        by_key[payload.author].append(int(payload.text))
    assert all(sequence == sorted(sequence) for sequence in by_key.values())
    assert len(by_key) == 7


async def test_a_rolled_back_transaction_publishes_nothing(scenario: Scenario) -> None:
    async def change_that_fails() -> None:
        async with scenario.pool.acquire() as connection, connection.transaction():
            await append_event(
                connection,
                topic=scenario.topic,
                aggregate_id="doomed",
                line=BusinessLine.PINGOU,
                payload=notes_pb2.NoteCreated(note_id="doomed", author="doomed", text="never"),
            )
            raise RuntimeError("change failed")

    with pytest.raises(RuntimeError, match="change failed"):
        await change_that_fails()
    marker = await scenario.append("marker", "after")
    relay = asyncio.create_task(scenario.relay().run())
    try:
        records = await read_topic(
            scenario.kafka, scenario.topic, until=lambda got: any(decode(r)[0] == str(marker) for r in got)
        )
    finally:
        await stop(relay)
    assert [decode(record)[1].author for record in records] == ["marker"]


async def test_append_outside_a_transaction_is_refused(scenario: Scenario) -> None:
    async with scenario.pool.acquire() as connection:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await append_events(
                connection,
                [OutboxEvent(scenario.topic, "k", BusinessLine.PINGOU, notes_pb2.NoteCreated(note_id="k"))],
            )


def spawn_relay(scenario: Scenario, batch_size: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "libs.events.relay",
            "--schema",
            scenario.schema,
            "--batch-size",
            str(batch_size),
        ],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": scenario.database_url, "KAFKA_BOOTSTRAP_SERVERS": scenario.kafka},
    )


async def test_a_relay_killed_mid_batch_still_delivers_every_event_and_effects_happen_once(
    scenario: Scenario,
) -> None:
    total, authors = 10_000, 50
    async with scenario.pool.acquire() as connection:
        for start in range(0, total, 500):
            async with connection.transaction():
                await append_events(
                    connection,
                    [
                        OutboxEvent(
                            scenario.topic,
                            f"author-{n % authors}",
                            BusinessLine.PINGOU,
                            notes_pb2.NoteCreated(note_id=str(n), author=f"author-{n % authors}", text=str(n)),
                        )
                        for n in range(start, start + 500)
                    ],
                )

    async def published() -> int:
        return int(await scenario.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"))

    first = spawn_relay(scenario, batch_size=20)
    try:
        await eventually(lambda: _at_least(published, 500), timeout=60, pause=0.01)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
    finally:
        if first.poll() is None:
            first.kill()
    assert await published() < total, "the relay finished before it was killed; the test proves nothing"

    second = spawn_relay(scenario, batch_size=500)
    try:
        await eventually(lambda: _at_least(published, total), timeout=120)
    finally:
        second.terminate()
        await asyncio.to_thread(second.wait, 20)

    records = await read_topic(scenario.kafka, scenario.topic, until=lambda got: len(got) >= total)
    assert {decode(record)[1].text for record in records} == {str(n) for n in range(total)}

    consumer = IdempotentConsumer(
        name=f"effects-{scenario.schema}",
        pool=scenario.pool,
        bootstrap_servers=scenario.kafka,
        topics=[scenario.topic],
        handlers={notes_pb2.NoteCreated: count_note},
    )
    consuming = asyncio.create_task(consumer.run())
    try:

        async def handled() -> int:
            return int(await scenario.pool.fetchval("SELECT count(*) FROM inbox"))

        await eventually(lambda: _at_least(handled, total), timeout=120)
    finally:
        await stop(consuming)
    counts = await scenario.pool.fetch("SELECT author, notes FROM note_stats")
    assert len(counts) == authors
    assert {row["notes"] for row in counts} == {total // authors}


async def _at_least(measure: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await measure() >= expected
