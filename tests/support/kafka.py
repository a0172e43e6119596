"""Reading and writing raw Kafka records in tests, with plain aiokafka clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from google.protobuf.message import Message
from pingou.events.v1 import envelope_pb2

from libs.core import BusinessLine
from libs.events import build_envelope
from tests.support.database import count
from tests.support.waiting import eventually


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 30.0,
) -> list[Any]:
    """All records of `topic` from the beginning, read until `until(records)` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: only {len(records)} records after {timeout}s")
            batches = await consumer.getmany(timeout_ms=200)
            for partition_records in batches.values():
                records.extend(partition_records)
        return records
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
    """Send (key, value) records in order and wait until Kafka acknowledged them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in messages:
            await (await producer.send(topic, key=key, value=value))
    finally:
        await producer.stop()


async def rewind_group(bootstrap: str, group_id: str, topic: str) -> None:
    """Reset a consumer group's committed offsets to the start of `topic`, as an operator's offset
    reset does: every record is delivered to that group again."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(bootstrap, topic)
        consumer.assign(partitions)
        await consumer.commit({partition: 0 for partition in partitions})
    finally:
        await consumer.stop()


async def publish_events(
    bootstrap: str, topic: str, events: Sequence[tuple[str, Message, uuid.UUID | None]], *, line: BusinessLine
) -> list[uuid.UUID]:
    """Publish (aggregate id, payload, event id or None) as enveloped events, as a service's relay would."""
    ids, records = [], []
    for aggregate_id, payload, event_id in events:
        envelope = build_envelope(payload, aggregate_id=aggregate_id, line=line, event_id=event_id)
        ids.append(uuid.UUID(envelope.event_id))
        records.append((aggregate_id.encode(), envelope.SerializeToString()))
    await produce(bootstrap, topic, records)
    return ids


async def record_count(bootstrap: str, topic: str) -> int:
    """How many records the topic holds now (sum of its partitions' end offsets)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(bootstrap, topic)
        ends = await consumer.end_offsets(partitions)
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [
        TopicPartition(topic, p["partition"]) for p in sorted(description["partitions"], key=lambda p: p["partition"])
    ]


async def published_events(
    bootstrap: str, topic: str, types: Sequence[type[Message]], *, dsn: str, outbox_schema: str
) -> list[tuple[str, Message]]:
    """Every (key, event) on `topic`, in order and each event once, once the service's outbox (in
    `outbox_schema`) is drained: the relay deletes a row only after Kafka acknowledged it, so all that
    committed so far is on the topic. A relay stopped between Kafka's acknowledgement and the delete sends
    the row again on its next start (at least once); consumers deduplicate on the event id, and so does this."""
    by_name = {message.DESCRIPTOR.full_name: message for message in types}

    async def drained() -> bool:
        return await count(dsn, f"SELECT count(*) FROM {outbox_schema}.outbox") == 0  # noqa: S608  -- a schema name

    await eventually(drained)
    total = await record_count(bootstrap, topic)
    found, seen = [], set()
    for record in await read_topic(bootstrap, topic, until=lambda got: len(got) >= total):
        envelope = envelope_pb2.EventEnvelope.FromString(record.value)
        if envelope.event_id in seen:
            continue
        seen.add(envelope.event_id)
        payload = by_name[envelope.payload.TypeName()]()
        envelope.payload.Unpack(payload)
        found.append((record.key.decode(), payload))
    return found
