"""Transactional outbox and relay against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from pingou.testkit.v1 import notes_pb2
from prometheus_client import REGISTRY

from libs.core import BusinessLine
from libs.events import IdempotentConsumer, OutboxEvent, append_event, append_events
from tests.conftest import REPO, Infra
from tests.notes_service.app import count_note
from tests.support.kafka import read_topic, record_count
from tests.support.outbox import Scenario, decode
from tests.support.waiting import eventually, stop

pytestmark = pytest.mark.infra


@pytest.fixture
async def scenario(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Scenario]:
    async with Scenario(infra, database_url, topic_prefix) as created:
        yield created


async def test_concurrent_writers_give_exactly_one_event_per_change_in_commit_order_per_key(
    scenario: Scenario,
) -> None:
    """Eight writers race over five aggregates while the relay runs. Each change locks its aggregate's row
    (as every aggregate mutation does), so each key's events must come out in that key's commit order."""
    keys, writers, changes = 5, 8, 40
    await scenario.pool.execute("CREATE TABLE aggregates (key text PRIMARY KEY, version integer NOT NULL)")
    await scenario.pool.executemany("INSERT INTO aggregates VALUES ($1, 0)", [(f"key-{k}",) for k in range(keys)])

    async def writer(seed: int) -> None:
        for change in range(changes):
            key = f"key-{(seed + change) % keys}"
            async with scenario.pool.acquire() as connection, connection.transaction():
                version = await connection.fetchval(
                    "UPDATE aggregates SET version = version + 1 WHERE key = $1 RETURNING version", key
                )
                await append_event(
                    connection,
                    topic=scenario.topic,
                    aggregate_id=key,
                    line=BusinessLine.PINGOU,
                    payload=notes_pb2.NoteCreated(note_id=key, author=key, text=str(version)),
                )

    total = writers * changes
    relay = asyncio.create_task(scenario.relay(batch_size=16).run())
    try:
        await asyncio.gather(*(writer(seed) for seed in range(writers)))
        await eventually(scenario.all_published)
    finally:
        await stop(relay)
    assert await record_count(scenario.kafka, scenario.topic) == total  # exactly one record per change
    records = await read_topic(scenario.kafka, scenario.topic, until=lambda got: len(got) >= total)
    by_key: dict[str, list[int]] = defaultdict(list)
    for record in records:
        _, payload = decode(record)
        assert record.key.decode() == payload.author
        by_key[payload.author].append(int(payload.text))
    assert {key: versions for key, versions in by_key.items()} == {
        key: list(range(1, len(versions) + 1)) for key, versions in by_key.items()
    }
    assert sum(len(versions) for versions in by_key.values()) == total


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
        [sys.executable, "-m", "libs.events", "relay", "--schema", scenario.schema, "--batch-size", str(batch_size)],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": scenario.database_url, "KAFKA_BOOTSTRAP_SERVERS": scenario.kafka},
    )


async def test_a_relay_killed_between_kafka_ack_and_its_bookkeeping_resends_and_effects_happen_once(
    scenario: Scenario,
) -> None:
    total, authors, first_batch = 2000, 40, 100
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

    # Hold a lock on the first row: the relay can publish its first batch, but not record that it did.
    blocker = await scenario.pool.acquire()
    hold = blocker.transaction()
    await hold.start()
    await blocker.fetchval("SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE")
    first = spawn_relay(scenario, batch_size=first_batch)
    try:

        async def stuck_after_kafka_acknowledged() -> bool:
            waiting = await scenario.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'outbox-relay' "
                "AND datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(waiting) and await record_count(scenario.kafka, scenario.topic) == first_batch

        await eventually(stuck_after_kafka_acknowledged, timeout=60)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)

        async def its_session_is_gone() -> bool:
            sessions = await scenario.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'outbox-relay' "
                "AND datname = current_database()"
            )
            return bool(sessions == 0)

        await eventually(its_session_is_gone, timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        await hold.rollback()
        await scenario.pool.release(blocker)
    assert await scenario.pending() == total  # Kafka has the first batch; the outbox does not know it

    second = spawn_relay(scenario, batch_size=500)
    try:
        await eventually(scenario.all_published, timeout=120)
    finally:
        second.terminate()
        await asyncio.to_thread(second.wait, 20)
    assert await record_count(scenario.kafka, scenario.topic) == total + first_batch  # the first batch twice

    consumer = IdempotentConsumer(
        name=f"effects-{scenario.schema}",
        pool=scenario.pool,
        bootstrap_servers=scenario.kafka,
        topics=[scenario.topic],
        handlers={notes_pb2.NoteCreated: count_note},
    )
    consuming = asyncio.create_task(consumer.run())
    group = f"effects-{scenario.schema}"
    try:

        async def every_record_consumed() -> bool:
            duplicates = REGISTRY.get_sample_value("consumer_events_total", {"group": group, "outcome": "duplicate"})
            handled = await scenario.pool.fetchval("SELECT count(*) FROM inbox")
            return (duplicates or 0) >= first_batch and bool(handled == total)

        await eventually(every_record_consumed, timeout=120)
    finally:
        await stop(consuming)
    counts = await scenario.pool.fetch("SELECT author, notes FROM note_stats")
    assert len(counts) == authors
    assert {row["notes"] for row in counts} == {total // authors}
