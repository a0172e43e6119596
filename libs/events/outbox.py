"""Appending events to the outbox inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from google.protobuf.message import Message

from libs.core import BusinessLine
from libs.events.envelope import build_envelope
from libs.tracing import current_traceparent, inject_headers


def outbox_insert(first: int = 1, *, only_with: str | None = None) -> str:
    """The INSERT of `OutboxRows.arguments()` as parameters $first..$first+5. `only_with` names a CTE (or
    table) the rows are cross-joined with, so a statement that appends its events in a CTE inserts them
    only when that CTE yielded a row (e.g. only when the change they describe was made)."""
    p = [f"${first + i}" for i in range(6)]
    beside = f", {only_with}" if only_with else ""
    # Parameter numbers and a CTE name from code, never input.
    return f"""
INSERT INTO outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest({p[0]}::uuid[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[], {p[4]}::bytea[],
    {p[5]}::jsonb[]) AS e{beside}
"""  # noqa: S608


# $1..$6 are the arrays of `OutboxRows.arguments()`.
OUTBOX_INSERT = outbox_insert()


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    topic: str
    aggregate_id: str
    line: BusinessLine
    payload: Message
    event_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class OutboxRows:
    """Events as the outbox's column arrays ($1..$6 of `OUTBOX_INSERT`), for a statement that appends
    them itself, in a CTE beside the change they describe (one round trip instead of two)."""

    event_ids: list[uuid.UUID]
    topics: list[str]
    keys: list[str]
    event_types: list[str]
    payloads: list[bytes]
    headers: list[str]

    def arguments(self) -> tuple[list[uuid.UUID], list[str], list[str], list[str], list[bytes], list[str]]:
        return self.event_ids, self.topics, self.keys, self.event_types, self.payloads, self.headers


def outbox_rows(events: Sequence[OutboxEvent]) -> OutboxRows:
    """Envelopes (with the current trace context) for `events`, ready to insert."""
    traceparent = current_traceparent()
    headers = json.dumps({name: value.decode() for name, value in inject_headers()})
    rows = OutboxRows([], [], [], [], [], [])
    for event in events:
        envelope = build_envelope(
            event.payload,
            aggregate_id=event.aggregate_id,
            line=event.line,
            traceparent=traceparent,
            event_id=event.event_id,
        )
        rows.event_ids.append(uuid.UUID(envelope.event_id))
        rows.topics.append(event.topic)
        rows.keys.append(event.aggregate_id)
        rows.event_types.append(envelope.event_type)
        rows.payloads.append(envelope.SerializeToString())
        rows.headers.append(headers)
    return rows


async def append_events(connection: asyncpg.Connection, events: Sequence[OutboxEvent]) -> list[uuid.UUID]:
    """Append events in one statement; they are published only if the caller's transaction commits."""
    if not connection.is_in_transaction():
        # Outside a transaction the event could be published for a change that never commits.
        raise RuntimeError("append events inside the transaction of the change they describe")
    rows = outbox_rows(events)
    await connection.execute(OUTBOX_INSERT, *rows.arguments())
    return rows.event_ids


async def append_event(
    connection: asyncpg.Connection,
    *,
    topic: str,
    aggregate_id: str,
    line: BusinessLine,
    payload: Message,
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    ids = await append_events(connection, [OutboxEvent(topic, aggregate_id, line, payload, event_id)])
    return ids[0]
