"""The event envelope and topic names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message
from pingou.events.v1 import envelope_pb2

from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine


def topic_name(line: BusinessLine, aggregate: str, *, prefix: str = "", version: int = 1) -> str:
    """One topic per aggregate and line, e.g. `pingou.order.v1`; a prefix isolates shared clusters."""
    return f"{prefix}{line.value}.{aggregate}.v{version}"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def build_envelope(
    payload: Message,
    *,
    aggregate_id: str,
    line: BusinessLine,
    traceparent: str = "",
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    schema_version: int = 1,
) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(
        event_id=str(event_id or uuid.uuid4()),
        event_type=payload.DESCRIPTOR.full_name,
        aggregate_id=aggregate_id,
        line=LINE_TO_PROTO[line],
        schema_version=schema_version,
        traceparent=traceparent,
    )
    envelope.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    envelope.payload.Pack(payload)
    return envelope
