"""The idempotent consumer against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest
from pingou.testkit.v1 import notes_pb2

from libs.core import BusinessLine
from libs.database import create_pool, migrate
from libs.events import (
    MIGRATIONS,
    ConsumedEvent,
    IdempotentConsumer,
    build_envelope,
    dead_letter_topic,
    ensure_topics,
)
from tests.conftest import Infra
from tests.notes_service.app import MIGRATIONS as NOTES_MIGRATIONS
from tests.notes_service.app import count_note
from tests.support.kafka import produce, read_topic, rewind_group
from tests.support.waiting import eventually, stop

pytestmark = pytest.mark.infra


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"consumer_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate, database_url, schema=schema, sources=[MIGRATIONS, NOTES_MIGRATIONS])
    created = await create_pool(database_url, schema=schema, application_name="tests")
    yield created
    await created.close()


@pytest.fixture
async def topic(infra: Infra, topic_prefix: str) -> str:
    name = f"{topic_prefix}pingou.consumertest{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(infra.kafka_bootstrap, [name])
    return name


def note_event(author: str, event_id: uuid.UUID | None = None) -> tuple[bytes, bytes]:
    """A NoteCreated record. All share one key, so one partition keeps them in the order sent and a test
    that waits for the last one knows the consumer has been through the others."""
    envelope = build_envelope(
        notes_pb2.NoteCreated(note_id=author, author=author, text="x"),
        aggregate_id=author,
        line=BusinessLine.PINGOU,
        event_id=event_id,
    )
    return b"same-key", envelope.SerializeToString()


async def notes_of(pool: asyncpg.Pool, author: str) -> int:
    return int(await pool.fetchval("SELECT coalesce(sum(notes), 0) FROM note_stats WHERE author = $1", author))


def consumer(name: str, pool: asyncpg.Pool, infra: Infra, topic: str, **options: object) -> IdempotentConsumer:
    return IdempotentConsumer(
        name=name,
        pool=pool,
        bootstrap_servers=infra.kafka_bootstrap,
        topics=[topic],
        handlers={notes_pb2.NoteCreated: count_note},
        **options,  # type: ignore[arg-type]
    )


async def test_a_redelivered_event_has_no_second_effect(pool: asyncpg.Pool, infra: Infra, topic: str) -> None:
    repeated = uuid.uuid4()
    await produce(infra.kafka_bootstrap, topic, [note_event("ann", repeated), note_event("ann", repeated)])
    await produce(infra.kafka_bootstrap, topic, [note_event("bob")])
    name = f"redelivery-{uuid.uuid4().hex[:6]}"
    first = asyncio.create_task(consumer(name, pool, infra, topic).run())
    try:
        await eventually(lambda: notes_of(pool, "bob"))
    finally:
        await stop(first)
    assert await notes_of(pool, "ann") == 1

    # Replaying the whole topic to the same consumer (an operator's offset reset, or a rebalance after a
    # crash before the commit) must not apply anything a second time.
    await rewind_group(infra.kafka_bootstrap, name, topic)
    await produce(infra.kafka_bootstrap, topic, [note_event("cid")])
    replay = asyncio.create_task(consumer(name, pool, infra, topic).run())
    try:
        await eventually(lambda: notes_of(pool, "cid"))
    finally:
        await stop(replay)
    assert (await notes_of(pool, "ann"), await notes_of(pool, "bob")) == (1, 1)


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_next_is_handled(
    pool: asyncpg.Pool, infra: Infra, topic: str
) -> None:
    await produce(infra.kafka_bootstrap, topic, [(b"same-key", b"\xff\x00 not an envelope"), note_event("dan")])
    run = asyncio.create_task(consumer(f"poison-{uuid.uuid4().hex[:6]}", pool, infra, topic).run())
    try:
        await eventually(lambda: notes_of(pool, "dan"))
    finally:
        await stop(run)
    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), until=lambda got: len(got) >= 1)
    assert dead[0].value == b"\xff\x00 not an envelope"
    headers = dict(dead[0].headers)
    assert b"not an event envelope" in headers["dlq.error"]
    assert headers["dlq.source"].startswith(topic.encode())


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_and_leaves_no_effect(
    pool: asyncpg.Pool, infra: Infra, topic: str
) -> None:
    async def refuse_eve(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        await count_note(connection, event)  # written, then rolled back with the failing transaction
        assert isinstance(event.payload, notes_pb2.NoteCreated)
        if event.payload.author == "eve":
            raise ValueError("eve's notes are refused")

    await produce(infra.kafka_bootstrap, topic, [note_event("eve"), note_event("fay")])
    run = asyncio.create_task(
        IdempotentConsumer(
            name=f"failing-{uuid.uuid4().hex[:6]}",
            pool=pool,
            bootstrap_servers=infra.kafka_bootstrap,
            topics=[topic],
            handlers={notes_pb2.NoteCreated: refuse_eve},
            retry_pause=0.01,
        ).run()
    )
    try:
        await eventually(lambda: notes_of(pool, "fay"))
    finally:
        await stop(run)
    assert await notes_of(pool, "eve") == 0
    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), until=lambda got: len(got) >= 1)
    assert b"eve's notes are refused" in dict(dead[0].headers)["dlq.error"]


async def test_a_batch_with_one_failing_event_applies_every_other_event_once_in_order(
    pool: asyncpg.Pool, infra: Infra, topic: str
) -> None:
    """Events polled together are applied in one transaction; one that fails sends the batch back one by
    one, so the others still take effect exactly once (duplicates inside the batch too) and it alone is
    dead-lettered."""
    order: list[str] = []

    async def refuse_mid(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        await count_note(connection, event)
        assert isinstance(event.payload, notes_pb2.NoteCreated)
        if event.payload.author == "mid":
            raise ValueError("mid is refused")
        order.append(event.payload.author)

    twice = uuid.uuid4()
    records = [note_event(f"a{index}") for index in range(20)]
    records += [note_event("dup", twice), note_event("dup", twice), note_event("mid")]
    records += [note_event(f"b{index}") for index in range(20)]
    await produce(infra.kafka_bootstrap, topic, records)
    run = asyncio.create_task(
        IdempotentConsumer(
            name=f"batch-{uuid.uuid4().hex[:6]}",
            pool=pool,
            bootstrap_servers=infra.kafka_bootstrap,
            topics=[topic],
            handlers={notes_pb2.NoteCreated: refuse_mid},
            retry_pause=0.01,
        ).run()
    )
    try:
        await eventually(lambda: notes_of(pool, "b19"))
    finally:
        await stop(run)
    authors = [f"a{index}" for index in range(20)] + ["dup"] + [f"b{index}" for index in range(20)]
    assert [await notes_of(pool, author) for author in authors] == [1] * len(authors)
    assert await notes_of(pool, "mid") == 0
    assert [author for author in order if author in authors][-21:] == authors[-21:]  # applied in order
    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), until=lambda got: len(got) >= 1)
    assert b"mid is refused" in dict(dead[0].headers)["dlq.error"]


async def test_a_consumer_applying_batches_together_gets_each_new_event_once_and_alone_when_one_fails(
    pool: asyncpg.Pool, infra: Infra, topic: str
) -> None:
    """With `apply_together`, a polled batch's new events go to it in one call, in order; a batch that fails
    is applied one event at a time through the handlers, and only the failing event is dead-lettered."""
    calls: list[list[str]] = []

    async def apply_together(connection: asyncpg.Connection, events: Sequence[ConsumedEvent]) -> None:
        authors = [event.payload.author for event in events]  # type: ignore[attr-defined]  # NoteCreated
        if "mid" in authors:
            raise ValueError("mid is refused")
        for event in events:
            await count_note(connection, event)
        calls.append(authors)

    twice = uuid.uuid4()
    records = [note_event(f"a{index}") for index in range(20)] + [note_event("dup", twice), note_event("dup", twice)]
    await produce(infra.kafka_bootstrap, topic, records)

    async def apply_alone(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        await apply_together(connection, [event])

    together = IdempotentConsumer(
        name=f"together-{uuid.uuid4().hex[:6]}",
        pool=pool,
        bootstrap_servers=infra.kafka_bootstrap,
        topics=[topic],
        handlers={notes_pb2.NoteCreated: apply_alone},
        apply_together=apply_together,
        retry_pause=0.01,
    )
    run = asyncio.create_task(together.run())
    try:
        await eventually(lambda: notes_of(pool, "dup"))
        # Many calls would each be one event: the batch came in one call (a poll may split it, rarely).
        assert len(calls) < len(records) - 1
        assert [author for call in calls for author in call] == [f"a{index}" for index in range(20)] + ["dup"]
        await produce(infra.kafka_bootstrap, topic, [note_event("b0"), note_event("mid"), note_event("b1")])
        await eventually(lambda: notes_of(pool, "b1"))
    finally:
        await stop(run)
    assert [await notes_of(pool, author) for author in ("a0", "a19", "dup", "b0", "b1", "mid")] == [1, 1, 1, 1, 1, 0]
    assert calls[-2:] == [["b0"], ["b1"]]  # one by one once the batch failed
    dead = await read_topic(infra.kafka_bootstrap, dead_letter_topic(topic), until=lambda got: len(got) >= 1)
    assert b"mid is refused" in dict(dead[0].headers)["dlq.error"]
