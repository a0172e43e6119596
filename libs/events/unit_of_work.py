"""A unit of work: one transaction on one line's schema, plus the events to publish if it commits.

Services subclass it to hang their repositories on the connection (`on_begin`). Events queued with
`publish` are appended to the outbox inside the same transaction, just before it commits, so a state
change and its events commit or vanish together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

import asyncpg
from google.protobuf.message import Message

from libs.core import BusinessLine
from libs.events.envelope import topic_name
from libs.events.outbox import OutboxEvent, append_events


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool | None, line: BusinessLine, *, topic_prefix: str = ""):
        self._pool = pool
        self.line = line
        self._prefix = topic_prefix
        self._events: list[OutboxEvent] = []
        self._joined: asyncpg.Connection | None = None
        self.connection: asyncpg.Connection

    @classmethod
    def joining(cls, connection: asyncpg.Connection, line: BusinessLine, *, topic_prefix: str = "") -> Self:
        """A unit of work inside a transaction its caller runs, such as an event handler's (whose inbox row
        commits with the effect): it appends its events there and leaves commit and rollback to the caller."""
        uow = cls(None, line, topic_prefix=topic_prefix)
        uow._joined = connection
        return uow

    def on_begin(self, connection: asyncpg.Connection) -> None:
        """Hook for subclasses: build repositories over the transaction's connection."""

    async def __aenter__(self) -> Self:
        if self._joined is not None:
            self.connection = self._joined
            self._events = []
            self.on_begin(self.connection)
            return self
        assert self._pool is not None
        self.connection = await self._pool.acquire()
        try:
            self._transaction = self.connection.transaction()
            await self._transaction.start()
            self._events = []
            self.on_begin(self.connection)
        except BaseException:
            # __aexit__ does not run when entering fails (or a worker is cancelled right here): give the
            # connection back, or the pool can never close.
            await self._pool.release(self.connection)
            raise
        return self

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the transaction that may fail alone (one row of a durable job's batch): when it raises,
        its changes are rolled back to the savepoint and the events it queued are dropped; the rest of the
        transaction goes on."""
        queued = len(self._events)
        try:
            async with self.connection.transaction():
                yield
        except BaseException:
            del self._events[queued:]
            raise

    def publish(self, aggregate: str, aggregate_id: str, payload: Message) -> None:
        """Queue an event for `<line>.<aggregate>.v1`, keyed by the aggregate id."""
        topic = topic_name(self.line, aggregate, prefix=self._prefix)
        self._events.append(OutboxEvent(topic, aggregate_id, self.line, payload))

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._joined is not None:
            if kind is None and self._events:
                await append_events(self.connection, self._events)
            return
        assert self._pool is not None
        try:
            if kind is None:
                if self._events:
                    await append_events(self.connection, self._events)
                await self._transaction.commit()
            else:
                await self._transaction.rollback()
        finally:
            await self._pool.release(self.connection)
