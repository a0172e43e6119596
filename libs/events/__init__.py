"""Integration events: the protobuf envelope, the transactional outbox and its relay, the idempotent
consumer with its dead-letter topic, and topic administration. How they work: README.md, "How the shared pieces
work" (Outbox, Consumer)."""

from pathlib import Path

from libs.events.consumer import ApplyTogether, ConsumedEvent, IdempotentConsumer
from libs.events.envelope import build_envelope, dead_letter_topic, topic_name
from libs.events.outbox import OutboxEvent, OutboxRows, append_event, append_events, outbox_rows
from libs.events.relay import OutboxRelay, line_relays
from libs.events.topics import ensure_topics
from libs.events.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = [
    "MIGRATIONS",
    "ApplyTogether",
    "ConsumedEvent",
    "IdempotentConsumer",
    "OutboxEvent",
    "OutboxRelay",
    "OutboxRows",
    "UnitOfWork",
    "append_event",
    "append_events",
    "build_envelope",
    "dead_letter_topic",
    "ensure_topics",
    "line_relays",
    "outbox_rows",
    "topic_name",
]
