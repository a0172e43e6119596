"""One transaction on one line's schema, with the events to publish when it commits (outbox)."""

from __future__ import annotations

from types import TracebackType

import asyncpg
from google.protobuf.message import Message

from libs.core import BusinessLine
from libs.events import OutboxEvent, append_events, topic_name
from services.segmentation.adapters.repository import SegmentationRepository

USER_AGGREGATE = "user"


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool, line: BusinessLine, *, topic_prefix: str = ""):
        self._pool = pool
        self.line = line
        self._topic = topic_name(line, USER_AGGREGATE, prefix=topic_prefix)
        self._events: list[OutboxEvent] = []

    async def __aenter__(self) -> UnitOfWork:
        self._connection = await self._pool.acquire()
        self._transaction = self._connection.transaction()
        await self._transaction.start()
        self.users = SegmentationRepository(self._connection, self.line)
        self._events = []
        return self

    def publish(self, aggregate_id: str, payload: Message) -> None:
        """Queue an event; it is written to the outbox in this transaction, just before it commits."""
        self._events.append(OutboxEvent(self._topic, aggregate_id, self.line, payload))

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                if self._events:
                    await append_events(self._connection, self._events)
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        finally:
            await self._pool.release(self._connection)
