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

_INSERT = """
INSERT INTO outbox (event_id, topic, key, event_type, payload, headers)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::jsonb[])
"""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    topic: str
    aggregate_id: str
    line: BusinessLine
    payload: Message
    event_id: uuid.UUID | None = None


async def append_events(connection: asyncpg.Connection, events: Sequence[OutboxEvent]) -> list[uuid.UUID]:
    """Append events in one statement; they are published only if the caller's transaction commits."""
    if not connection.is_in_transaction():
        # Outside a transaction the event could be published for a change that never commits.
        raise RuntimeError("append events inside the transaction of the change they describe")
    traceparent = current_traceparent()
    headers = json.dumps({name: value.decode() for name, value in inject_headers()})
    ids, topics, keys, types, payloads = [], [], [], [], []
    for event in events:
        envelope = build_envelope(
            event.payload,
            aggregate_id=event.aggregate_id,
            line=event.line,
            traceparent=traceparent,
            event_id=event.event_id,
        )
        ids.append(uuid.UUID(envelope.event_id))
        topics.append(event.topic)
        keys.append(event.aggregate_id)
        types.append(envelope.event_type)
        payloads.append(envelope.SerializeToString())
    await connection.execute(_INSERT, ids, topics, keys, types, payloads, [headers] * len(ids))
    return ids


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
