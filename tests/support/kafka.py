"""Reading and writing raw Kafka records in tests, with plain aiokafka clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from google.protobuf.message import Message

from libs.core import BusinessLine
from libs.events import build_envelope


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
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
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
