"""Outbox rows the relay set aside because Kafka refused them for good (too large, the topic refused),
for an operator to list and, once the cause is fixed, replay.

A row set aside holds back the later rows of its topic and key, so one aggregate's events stay in order;
replaying it puts it back in line, and they follow it. `python -m libs.events set-aside` and
`replay` run these on a schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_LIST = """
SELECT o.id, o.topic, o.key, o.event_type, o.attempts, o.last_error, o.parked_at,
    (SELECT count(*) FROM outbox behind WHERE behind.topic = o.topic AND behind.key = o.key AND behind.id > o.id)
        AS waiting_behind
FROM outbox o WHERE o.parked_at IS NOT NULL ORDER BY o.id
"""
# Back in line as a new row would be: no attempts, no error, no pause.
_REPLAY = """
UPDATE outbox SET parked_at = NULL, retry_at = NULL, attempts = 0, last_error = NULL
WHERE parked_at IS NOT NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class SetAsideRow:
    id: int
    topic: str
    key: str
    event_type: str
    attempts: int
    error: str | None
    since: datetime
    waiting_behind: int  # later rows of the same topic and key, held back until this one is delivered


async def set_aside_rows(connection: asyncpg.Connection) -> list[SetAsideRow]:
    """The rows set aside in the connection's schema, oldest first."""
    return [
        SetAsideRow(
            id=row["id"],
            topic=row["topic"],
            key=row["key"],
            event_type=row["event_type"],
            attempts=row["attempts"],
            error=row["last_error"],
            since=row["parked_at"],
            waiting_behind=row["waiting_behind"],
        )
        for row in await connection.fetch(_LIST)
    ]


async def replay(connection: asyncpg.Connection, ids: Sequence[int] | None = None) -> list[int]:
    """Put rows set aside back in line for the relay (all of them when `ids` is None); returns the ids
    replayed, in order. Ids that are not set aside (delivered already, or never refused) are left alone."""
    replayed = await connection.fetch(_REPLAY, None if ids is None else list(ids))
    return sorted(row["id"] for row in replayed)
