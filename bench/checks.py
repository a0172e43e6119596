"""What the benchmark reads from the databases and the broker after a run, as an operator's tool (no
service reads another's tables; this is not a service): the event lag from each event's commit to each
consumer's effect. Whether the platform is idle and its invariants are shared with the simulator
(`ops/checks.py`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pingou.events.v1 import envelope_pb2

from ops.checks import connect, event_schemas


async def topic_offsets(bootstrap: str, prefix: str = "pingou.") -> dict[TopicPartition, int]:
    """The end offset of every partition of the line's topics (dead-letter topics left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix) and not name.endswith(".dlq")]
        described = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], part["partition"]) for topic in described for part in topic["partitions"]
    ]
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def events_between(
    bootstrap: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> dict[str, tuple[str, datetime]]:
    """event id -> (short event type, occurred at) of every event published between the two offsets."""
    wanted = {tp: (start.get(tp, 0), stop) for tp, stop in end.items() if stop > start.get(tp, 0)}
    found: dict[str, tuple[str, datetime]] = {}
    if not wanted:
        return found
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp, (first, _) in wanted.items():
            consumer.seek(tp, first)
        remaining = set(wanted)
        while remaining:
            batches = await consumer.getmany(timeout_ms=2000)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    envelope = envelope_pb2.EventEnvelope.FromString(record.value)
                    found[envelope.event_id] = (
                        envelope.event_type.rsplit(".", 1)[-1],
                        envelope.occurred_at.ToDatetime(tzinfo=UTC),
                    )
                if records and records[-1].offset + 1 >= wanted[tp][1]:
                    remaining.discard(tp)
                    consumer.pause(tp)
        return found
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Lag:
    consumer: str
    event_type: str
    count: int
    p50_ms: float
    p99_ms: float

    def as_json(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "event": self.event_type,
            "count": self.count,
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
        }


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[min(998, round(fraction * 1000) - 1)]


async def event_lags(
    database_url: str, events: dict[str, tuple[str, datetime]], *, since: datetime
) -> tuple[list[Lag], list[float]]:
    """For every consumer (the inbox's consumer name) and event type: the time from the event's commit
    (its occurred_at, stamped in the committing transaction) to the consumer's transaction that applied
    its effect (the inbox row's handled_at). Returns the table and every single lag, in milliseconds."""
    connection = await connect(database_url)
    samples: dict[tuple[str, str], list[float]] = {}
    try:
        for schema in await event_schemas(connection):
            has_inbox = await connection.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'inbox'",
                schema,
            )
            if not has_inbox:
                continue
            rows = await connection.fetch(
                f"SELECT consumer, event_id::text AS event_id, handled_at FROM {schema}.inbox WHERE handled_at >= $1",
                since,
            )
            for row in rows:
                known = events.get(row["event_id"])
                if known is None:
                    continue
                event_type, occurred_at = known
                lag = (row["handled_at"] - occurred_at).total_seconds() * 1000
                samples.setdefault((row["consumer"], event_type), []).append(lag)
    finally:
        await connection.close()
    table = [
        Lag(consumer, event_type, len(values), percentile(values, 0.5), percentile(values, 0.99))
        for (consumer, event_type), values in sorted(samples.items())
    ]
    return table, [value for values in samples.values() for value in values]
