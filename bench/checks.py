"""What the benchmark reads from the databases and the broker after a run, as an operator's tool (no
service reads another's tables; this is not a service): whether the platform is idle, the invariants,
and the event lag from each event's commit to each consumer's effect."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pingou.events.v1 import envelope_pb2

GROUPBUY, ORDER, CATALOG = "groupbuy_pingou", "order_pingou", "catalog_pingou"

# Each query counts the rows that break one invariant; zero is the only good answer.
INVARIANTS: dict[str, str] = {
    "group_over_size": f"SELECT count(*) FROM {GROUPBUY}.groups WHERE seats_taken > size",
    "group_count_drift": f"""
        SELECT count(*) FROM {GROUPBUY}.groups g
        LEFT JOIN (SELECT group_id, count(*) AS n FROM {GROUPBUY}.seats WHERE state <> 'released' GROUP BY group_id) c
            USING (group_id)
        WHERE g.state = 'open' AND g.seats_taken <> coalesce(c.n, 0)""",
    "seats_over_size": f"""
        SELECT count(*) FROM (SELECT s.group_id FROM {GROUPBUY}.seats s JOIN {GROUPBUY}.groups g USING (group_id)
            WHERE s.state <> 'released' GROUP BY s.group_id, g.size HAVING count(*) > g.size) over_size""",
    "user_twice_in_group": f"""
        SELECT count(*) FROM (SELECT 1 FROM {GROUPBUY}.seats WHERE state <> 'released'
            GROUP BY group_id, user_id HAVING count(*) > 1) twice""",
    "completed_not_full": f"SELECT count(*) FROM {GROUPBUY}.groups WHERE state = 'completed' AND seats_paid <> size",
    "stock_below_zero": f"""SELECT (SELECT count(*) FROM {CATALOG}.stock WHERE available < 0)
        + (SELECT count(*) FROM {GROUPBUY}.allotments WHERE available < 0)""",
    "held_seat_without_one_order": f"""
        SELECT count(*) FROM {GROUPBUY}.seats s
        LEFT JOIN (SELECT seat_id, count(*) AS n FROM {ORDER}.orders WHERE state = 'pending_payment'
                   GROUP BY seat_id) o ON o.seat_id = s.seat_id::text
        WHERE s.state = 'held' AND coalesce(o.n, 0) <> 1""",
    # A seat's unit of stock is in the seat itself (taken from groupbuy's allotment in its statement);
    # seats from before allotments had a catalog reservation for their order instead.
    "held_seat_without_stock": f"""
        SELECT count(*) FROM {GROUPBUY}.seats s
        LEFT JOIN (SELECT o.seat_id, count(*) AS n FROM {ORDER}.orders o
                   JOIN {CATALOG}.reservations r ON r.order_id = o.order_id AND r.state = 'reserved'
                   GROUP BY o.seat_id) reserved ON reserved.seat_id = s.seat_id::text
        WHERE s.state = 'held' AND s.stock_bucket IS NULL AND coalesce(reserved.n, 0) <> 1""",
    # Every unit catalog leased to groupbuy is in its allotment, in a seat (held, paid, or sold with its
    # completed group), and nowhere else: none lost, none made up. A failed group's seats gave theirs back.
    "leased_stock_not_accounted": f"""
        SELECT count(*) FROM {CATALOG}.stock_leases l
        LEFT JOIN (SELECT sku_id, sum(available) AS n FROM {GROUPBUY}.allotments GROUP BY sku_id) a USING (sku_id)
        LEFT JOIN (SELECT g.sku_id, count(*) AS n FROM {GROUPBUY}.seats s JOIN {GROUPBUY}.groups g USING (group_id)
                   WHERE s.stock_bucket IS NOT NULL AND s.state <> 'released' AND g.state <> 'failed'
                   GROUP BY g.sku_id) held USING (sku_id)
        WHERE l.leased <> coalesce(a.n, 0) + coalesce(held.n, 0)""",
    "seat_order_id_unknown": f"SELECT count(*) FROM {GROUPBUY}.seats WHERE state = 'held' AND order_id IS NULL",
}


async def connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url)


async def event_schemas(connection: asyncpg.Connection) -> list[str]:
    """Schemas with an outbox (publishers) or an inbox (consumers) of libs/events."""
    rows = await connection.fetch(
        "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name IN ('outbox', 'inbox') ORDER BY 1"
    )
    return [row["table_schema"] for row in rows]


async def _backlog(connection: asyncpg.Connection, schemas: Sequence[str]) -> tuple[int, int]:
    waiting = handled = 0
    for schema in schemas:
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        }
        if "outbox" in tables:
            waiting += await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE parked_at IS NULL")
        if "inbox" in tables:
            handled += await connection.fetchval(f"SELECT count(*) FROM {schema}.inbox")
    return waiting, handled


async def wait_until_idle(database_url: str, *, at_most: float = 120.0, settle: float = 3.0) -> float:
    """Seconds until every outbox is empty and no consumer has handled anything new for `settle`
    seconds (every event reached every consumer), or `at_most`."""
    started = time.monotonic()
    connection = await connect(database_url)
    try:
        schemas = await event_schemas(connection)
        last_handled, quiet_since = -1, time.monotonic()
        while time.monotonic() - started < at_most:
            waiting, handled = await _backlog(connection, schemas)
            if handled != last_handled or waiting:
                last_handled, quiet_since = handled, time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return quiet_since - started
            await asyncio.sleep(0.5)
        return time.monotonic() - started
    finally:
        await connection.close()


async def invariant_violations(database_url: str) -> dict[str, int]:
    connection = await connect(database_url)
    try:
        return {name: int(await connection.fetchval(query)) for name, query in INVARIANTS.items()}
    finally:
        await connection.close()


# --- event lag


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
