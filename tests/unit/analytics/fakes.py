"""In-memory stand-ins for analytics' ports (service_layer/ports.py) and for its job's unit of work, for
unit tests of the service layer. The SQL itself is proven by tests/integration/analytics.

The fake unit of work and link lookups subclass the real classes so that mypy holds every faked method to
the real signature; they never call the real constructors, so a method the fakes do not implement fails
loudly (no connection) instead of passing. A transaction is a snapshot of the tables: leaving it with an
error puts the snapshot back, as Postgres's rollback would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from libs.core import BusinessLine, Unavailable
from services.analytics.adapters.repository import LinkLookupsRepository
from services.analytics.domain.facts import (
    GroupOpened,
    GroupOutcome,
    MembershipSale,
    Payment,
    PlacedOrder,
    Refund,
    SeatTaken,
)
from services.analytics.domain.model import Kpis, PartitionLag, Window
from services.analytics.service_layer.unit_of_work import UnitOfWork
from tests.unit.fake_uow import FakeTransaction


class FakeFacts:
    """The Facts port: every write it was asked for, one entry per statement (kind, rows)."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, list[Any]]] = []

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.writes]

    def rows(self, kind: str) -> list[Any]:
        return [row for written, rows in self.writes if written == kind for row in rows]

    async def add_placed_orders(self, orders: Sequence[PlacedOrder]) -> None:
        self.writes.append(("placed_orders", list(orders)))

    async def add_payments(self, payments: Sequence[Payment]) -> None:
        self.writes.append(("payments", list(payments)))

    async def add_refunds(self, refunds: Sequence[Refund]) -> None:
        self.writes.append(("refunds", list(refunds)))

    async def add_groups_opened(self, groups: Sequence[GroupOpened]) -> None:
        self.writes.append(("groups_opened", list(groups)))

    async def add_group_outcomes(self, outcomes: Sequence[GroupOutcome]) -> None:
        self.writes.append(("group_outcomes", list(outcomes)))

    async def add_invites(self, seats: Sequence[SeatTaken]) -> None:
        self.writes.append(("invites", list(seats)))

    async def add_membership_sales(self, sales: Sequence[MembershipSale]) -> None:
        self.writes.append(("membership_sales", list(sales)))

    async def want_link_lookups(self, user_ids: Sequence[str]) -> None:
        self.writes.append(("link_lookups", list(user_ids)))


class FakeKpiSource:
    """The KpiSource port: answers what it was given, and remembers the windows it was asked for."""

    def __init__(
        self,
        by_bucket: Mapping[datetime, Kpis] | None = None,
        total: Kpis | None = None,
        *,
        applied: tuple[int, datetime | None] = (0, None),
    ) -> None:
        self.by_bucket = dict(by_bucket or {})
        self.total = total or Kpis()
        self.applied_answer = applied
        self.asked: list[Window] = []

    async def kpis(self, window: Window) -> tuple[dict[datetime, Kpis], Kpis]:
        self.asked.append(window)
        return dict(self.by_bucket), self.total

    async def applied(self) -> tuple[int, datetime | None]:
        return self.applied_answer


class FakeConsumerPositions:
    def __init__(self, lags: Sequence[PartitionLag]) -> None:
        self.answer = list(lags)
        self.asked: list[list[str]] = []

    async def lags(self, topics: Sequence[str]) -> list[PartitionLag]:
        self.asked.append(list(topics))
        return [lag for lag in self.answer if lag.topic in topics]


class FakeSegmentation:
    """Segmentation's GetLinkedAccounts (the LinkedAccounts port), as the adapter answers: the other
    accounts, None for an account it does not hold, Unavailable when it does not answer."""

    def __init__(self, links: Mapping[str, Sequence[str]] | None = None, *, down: bool = False) -> None:
        self.links = {user: list(accounts) for user, accounts in (links or {}).items()}
        self.down = down
        self.asked: list[str] = []

    async def linked_accounts(self, user_id: str) -> list[str] | None:
        self.asked.append(user_id)
        if self.down:
            raise Unavailable("segmentation did not answer a link lookup", reason="SEGMENTATION_UNAVAILABLE")
        return self.links.get(user_id)


@dataclass
class FakeDatabase:
    lookups: dict[str, datetime] = field(default_factory=dict)  # link_lookups: user -> wanted_at (PRIMARY KEY)
    links: set[tuple[str, str]] = field(default_factory=set)  # account_links, PRIMARY KEY (user, linked user)
    set_aside: set[tuple[str, str]] = field(default_factory=set)  # job_set_aside (job, row)

    def restore(self, snapshot: FakeDatabase) -> None:
        self.__dict__.update(snapshot.__dict__)


class FakeLinkLookups(LinkLookupsRepository):
    def __init__(self, database: FakeDatabase) -> None:  # no connection on purpose
        self._database = database

    async def claim(self, *, job: str, limit: int) -> list[str]:
        waiting = [user for user in self._database.lookups if (job, user) not in self._database.set_aside]
        return sorted(waiting, key=lambda user: self._database.lookups[user])[:limit]

    async def add_links(self, user_id: str, linked: Sequence[str]) -> None:
        for other in linked:  # both ways, ON CONFLICT DO NOTHING
            if other == user_id:  # CHECK (user_id <> linked_user_id)
                raise asyncpg.CheckViolationError("new row for relation account_links violates a check constraint")
            self._database.links |= {(user_id, other), (other, user_id)}

    async def done(self, user_id: str) -> None:
        self._database.lookups.pop(user_id, None)


class FakeUnitOfWork(FakeTransaction, UnitOfWork):
    """The link job's unit of work over the fake database; counts its commits and rollbacks."""

    database: FakeDatabase

    def __init__(self, database: FakeDatabase | None = None, line: BusinessLine = BusinessLine.PINGOU) -> None:
        super().__init__(None, line)
        self.database = database if database is not None else FakeDatabase()
        self.lookups = FakeLinkLookups(self.database)
        self.begin()
