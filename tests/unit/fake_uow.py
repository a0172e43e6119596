"""The transaction of every service's fake unit of work (cosmicpython's pattern), shared by the fakes in
tests/unit/<service>/fakes.py. Mixed in before the service's real UnitOfWork (libs.events.UnitOfWork's
`publish` queues the events): entering snapshots the fake database; leaving commits the queued events
(`commit_events`, to the line's fake outbox) or restores the snapshot; a savepoint undoes only its part.
Each fake database says itself how it is restored (some of its state, like a sequence, is not
transactional)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

from google.protobuf.message import Message

from libs.core import BusinessLine
from libs.events.outbox import OutboxEvent


class FakeTransaction:
    database: Any  # the service's FakeDatabase, with restore(snapshot)
    _events: list[OutboxEvent]

    def begin(self) -> None:
        self.commits = 0
        self.rollbacks = 0

    def commit_events(self, events: list[OutboxEvent]) -> None:
        """Where committed events go: the line's fake outbox (nowhere for a unit of work that publishes none)."""

    async def __aenter__(self) -> Self:
        self._snapshot = copy.deepcopy(self.database)
        self._events = []
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit_events(self._events)
            self.commits += 1
        else:
            self.database.restore(self._snapshot)
            self.rollbacks += 1
        self._events = []

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        snapshot, queued = copy.deepcopy(self.database), len(self._events)
        try:
            yield
        except BaseException:
            self.database.restore(snapshot)
            del self._events[queued:]
            raise


class FakeLineTransaction(FakeTransaction):
    """A per-line unit of work's: its fake database keeps each line's tables in `lines`, each table set
    with an `outbox` that commits append to."""

    line: BusinessLine

    def _outbox(self) -> list[OutboxEvent]:
        outbox: list[OutboxEvent] = self.database.lines[self.line].outbox
        return outbox

    def commit_events(self, events: list[OutboxEvent]) -> None:
        self._outbox().extend(events)

    @property
    def published(self) -> list[Message]:
        """The payloads of the line's committed events, in commit order."""
        return [event.payload for event in self._outbox()]
