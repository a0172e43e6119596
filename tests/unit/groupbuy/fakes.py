"""In-memory stand-ins for groupbuy's unit of work and group repository, and for its ports to catalog and
segmentation, for unit tests of the use cases that run over a unit of work: what follows a join (payment,
cancellation, the window job, the hold backstop, the identity check) and the lease job. The SQL itself
is proven by tests/integration/groupbuy. (The join path runs single statements over the pool, not over a
unit of work: see the report that came with these tests.)

The fakes subclass the real classes so that mypy holds every faked method to the real signature; they
never call the real constructors, so a method the fakes do not implement fails loudly (no connection)
instead of passing. A transaction is a snapshot of the tables: leaving it with an error puts the snapshot
back and drops the queued events, as Postgres's rollback would; a commit appends the events to the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import asyncpg
from google.protobuf.message import Message

from libs.core import DomainError, Unavailable
from libs.events.outbox import OutboxEvent
from services.groupbuy.adapters.repository import GroupRepository
from services.groupbuy.domain.model import (
    ALLOTMENT_BUCKETS,
    FailureReason,
    Group,
    GroupState,
    ReleaseReason,
    Seat,
    SeatState,
)
from services.groupbuy.service_layer import announcements as announce
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.unit.fake_uow import FakeTransaction


@dataclass
class StoredSeat:
    seat: Seat
    stock_bucket: int | None  # where its unit of stock came from (None: a seat from before the allotment)


@dataclass
class StoredLease:
    sku_id: str
    quantity: int
    asked_at: datetime
    granted: int | None = None
    credited_at: datetime | None = None


@dataclass
class FakeDatabase:
    """The groupbuy_pingou schema."""

    groups: dict[str, Group] = field(default_factory=dict)  # groups, PRIMARY KEY (group_id)
    identity_checked: set[str] = field(default_factory=set)  # groups.identity_checked
    seats: dict[str, StoredSeat] = field(default_factory=dict)  # seats, PRIMARY KEY (seat_id)
    allotments: dict[tuple[str, int], int] = field(default_factory=dict)  # (sku_id, bucket) -> available
    leases: dict[str, StoredLease] = field(default_factory=dict)  # stock_leases, PRIMARY KEY (lease_id)
    user_sku_groups: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, sku) -> active
    set_aside: set[tuple[str, str]] = field(default_factory=set)  # job_set_aside (job, row)
    outbox: list[OutboxEvent] = field(default_factory=list)

    def restore(self, snapshot: FakeDatabase) -> None:
        self.__dict__.update(snapshot.__dict__)

    # --- what the tests start from (the join path's statements are not faked: they run over the pool)

    def add_group(self, group: Group) -> None:
        self.groups[group.group_id] = group

    def add_seat(self, seat: Seat, *, stock_bucket: int | None = 0) -> None:
        """A seat as the join statement leaves it: counted in its group and towards its buyer's limit."""
        group = self.groups[seat.group_id]
        self.seats[seat.seat_id] = StoredSeat(seat, stock_bucket)
        taken, paid = group.seats_taken + 1, group.seats_paid + (seat.state is SeatState.PAID)
        self.groups[group.group_id] = replace(group, seats_taken=taken, seats_paid=paid)
        key = (seat.user_id, group.sku_id)
        self.user_sku_groups[key] = self.user_sku_groups.get(key, 0) + 1

    def available(self, sku_id: str) -> int:
        return sum(n for (sku, _), n in self.allotments.items() if sku == sku_id)


def _check_group(group: Group) -> None:
    """The groups table's CHECKs: never more seats than the size, a completed group has them all paid."""
    if not 0 <= group.seats_paid <= group.seats_taken <= group.size or (
        group.state is GroupState.COMPLETED and group.seats_paid != group.size
    ):
        raise asyncpg.CheckViolationError(f"new row for relation groups violates a check constraint: {group}")


class FakeGroupRepository(GroupRepository):
    def __init__(self, database: FakeDatabase) -> None:  # no connection on purpose
        self._database = database
        self.locked: list[str] = []

    @property
    def _tables(self) -> FakeDatabase:
        return self._database

    def _set_group(self, group: Group) -> Group:
        _check_group(group)
        self._tables.groups[group.group_id] = group
        return group

    def _give_back_units(self, seats: Iterable[StoredSeat]) -> None:
        for stored in seats:
            if stored.stock_bucket is not None:
                key = (self._tables.groups[stored.seat.group_id].sku_id, stored.stock_bucket)
                if key in self._tables.allotments:  # UPDATE allotments ... FROM: only rows that exist
                    self._tables.allotments[key] += 1

    async def release_seats(self, seat_ids: Sequence[str], *, reason: ReleaseReason, at: datetime) -> list[Seat]:
        released = []
        for seat_id in seat_ids:
            stored = self._tables.seats.get(seat_id)
            if stored is None or stored.seat.state is not SeatState.HELD:
                continue
            stored.seat = replace(stored.seat, state=SeatState.RELEASED, release_reason=reason.value)
            released.append(stored)
            group = self._tables.groups[stored.seat.group_id]
            if group.state is GroupState.OPEN:  # a closed group's counts were settled when it closed
                self._set_group(replace(group, seats_taken=group.seats_taken - 1))
                self._tables.user_sku_groups[(stored.seat.user_id, group.sku_id)] -= 1
        self._give_back_units(released)
        return [stored.seat for stored in released]

    async def seat_of_order(self, *, order_id: str, group_id: str, user_id: str) -> Seat | None:
        seats = [stored.seat for stored in self._tables.seats.values()]
        named = [s for s in seats if s.order_id == order_id]
        unnamed = [
            s
            for s in seats
            if s.order_id is None
            and s.group_id == group_id
            and s.user_id == user_id
            and s.state is not SeatState.RELEASED
        ]
        return (named + unnamed)[0] if named or unnamed else None

    async def pay_seat(self, seat_id: str, *, order_id: str, paid_at: datetime, now: datetime) -> Group | None:
        stored = self._tables.seats[seat_id]
        group = self._tables.groups[stored.seat.group_id]
        if stored.seat.state is not SeatState.HELD or group.state is not GroupState.OPEN:
            return None
        stored.seat = replace(
            stored.seat, state=SeatState.PAID, paid_at=paid_at, order_id=stored.seat.order_id or order_id
        )
        completes = group.seats_paid + 1 == group.size and group.expires_at > paid_at
        return self._set_group(
            replace(
                group,
                seats_paid=group.seats_paid + 1,
                state=GroupState.COMPLETED if completes else group.state,
                closed_at=now if completes else group.closed_at,
            )
        )

    async def claim_due_groups(
        self, *, ended_by: datetime, given_up_by: datetime, pay_by_closed_before: datetime, job: str, limit: int
    ) -> list[str]:
        def kept_open(group: Group) -> bool:
            return any(
                s.seat.group_id == group.group_id
                and s.seat.state is SeatState.HELD
                and (
                    s.seat.pay_by >= pay_by_closed_before
                    or (s.seat.order_id is not None and group.expires_at > given_up_by)
                )
                for s in self._tables.seats.values()
            )

        due = [
            g
            for g in self._tables.groups.values()
            if g.state is GroupState.OPEN
            and g.expires_at <= ended_by
            and not kept_open(g)
            and (job, g.group_id) not in self._tables.set_aside
        ]
        return [g.group_id for g in sorted(due, key=lambda g: g.expires_at)[:limit]]

    async def fail_groups(self, group_ids: Sequence[str], *, reason: FailureReason, now: datetime) -> list[Group]:
        failed = []
        for group_id in group_ids:
            group = self._tables.groups.get(group_id)
            if group is not None and group.state is GroupState.OPEN:  # WHERE ... AND state = 'open'
                failed.append(
                    self._set_group(replace(group, state=GroupState.FAILED, closed_at=now, failure_reason=reason))
                )
        return failed

    async def give_back_paid_units(self, group_ids: Sequence[str]) -> None:
        self._give_back_units(
            s for s in self._tables.seats.values() if s.seat.group_id in group_ids and s.seat.state is SeatState.PAID
        )

    async def credit_lease(self, lease_id: str, *, granted: int, at: datetime) -> bool:
        lease = self._tables.leases[lease_id]
        if lease.credited_at is not None:  # WHERE credited_at IS NULL: credited once
            return False
        lease.granted, lease.credited_at = granted, at
        for bucket in range(ALLOTMENT_BUCKETS):  # spread over the SKU's eight buckets
            share = granted // ALLOTMENT_BUCKETS + (1 if bucket < granted % ALLOTMENT_BUCKETS else 0)
            key = (lease.sku_id, bucket)
            self._tables.allotments[key] = self._tables.allotments.get(key, 0) + share
        return True

    async def uncredited_leases(self, *, asked_before: datetime, job: str, limit: int) -> list[tuple[str, str, int]]:
        forgotten = [
            (lease_id, lease)
            for lease_id, lease in self._tables.leases.items()
            if lease.credited_at is None
            and lease.asked_at < asked_before
            and (job, lease_id) not in self._tables.set_aside
        ]
        forgotten.sort(key=lambda pair: pair[1].asked_at)
        return [(lease_id, lease.sku_id, lease.quantity) for lease_id, lease in forgotten[:limit]]

    async def uncount_closed(self, group_ids: Sequence[str]) -> None:
        for stored in self._tables.seats.values():
            if stored.seat.group_id in group_ids and stored.seat.state is not SeatState.RELEASED:
                self._tables.user_sku_groups[
                    (stored.seat.user_id, self._tables.groups[stored.seat.group_id].sku_id)
                ] -= 1

    async def claim_stale_holds(self, *, before: datetime, job: str, limit: int) -> list[str]:
        stale = [
            s.seat
            for s in self._tables.seats.values()
            if s.seat.state is SeatState.HELD
            and s.seat.order_id is None
            and s.seat.pay_by < before
            and (job, s.seat.seat_id) not in self._tables.set_aside
        ]
        return [seat.seat_id for seat in sorted(stale, key=lambda seat: seat.pay_by)[:limit]]

    async def claim_unchecked_completed(self, *, job: str, limit: int) -> list[str]:
        unchecked = [
            g
            for g in self._tables.groups.values()
            if g.state is GroupState.COMPLETED
            and g.group_id not in self._tables.identity_checked
            and (job, g.group_id) not in self._tables.set_aside
        ]
        return [g.group_id for g in sorted(unchecked, key=lambda g: g.closed_at or g.opened_at)[:limit]]

    async def mark_identity_checked(self, group_id: str, *, flagged: bool) -> None:
        self._tables.identity_checked.add(group_id)
        self._tables.groups[group_id] = replace(self._tables.groups[group_id], flagged=flagged)

    async def lock_group(self, group_id: str) -> Group | None:
        self.locked.append(group_id)
        return self._tables.groups.get(group_id)

    async def group(self, group_id: str) -> Group | None:
        return self._tables.groups.get(group_id)

    async def seats(self, group_ids: Sequence[str], *, states: Sequence[SeatState]) -> list[Seat]:
        found = [s.seat for s in self._tables.seats.values() if s.seat.group_id in group_ids and s.seat.state in states]
        return sorted(found, key=lambda seat: (seat.held_at, seat.seat_id))


class FakeUnitOfWork(FakeTransaction, UnitOfWork):
    """The pingou line's unit of work over the fake database; counts its commits and rollbacks."""

    database: FakeDatabase

    def __init__(self, database: FakeDatabase | None = None) -> None:
        super().__init__(None, announce.LINE)
        self.database = database if database is not None else FakeDatabase()
        self.repository = FakeGroupRepository(self.database)
        self.groups = self.repository
        self.begin()

    def commit_events(self, events: list[OutboxEvent]) -> None:
        self.database.outbox.extend(events)

    @property
    def published(self) -> list[Message]:
        """The payloads of the committed events, in commit order."""
        return [event.payload for event in self.database.outbox]

    def published_types(self) -> list[str]:
        return [type(payload).__name__ for payload in self.published]


class FakeStockLeases:
    """Catalog's LeaseStock (the StockLeases port): the first answer for a lease id stands, as catalog's
    lease_requests key keeps it; `refusal` and `down` answer as the adapter raises."""

    def __init__(self, available: int, *, refusal: DomainError | None = None, down: bool = False) -> None:
        self.available = available
        self.refusal = refusal
        self.down = down
        self.answers: dict[str, int] = {}
        self.asked: list[str] = []

    async def lease(self, *, sku_id: str, quantity: int, lease_id: str) -> int:
        self.asked.append(lease_id)
        if self.down:
            raise Unavailable("catalog did not answer", reason="CATALOG_UNAVAILABLE")
        if self.refusal is not None:
            raise self.refusal
        if lease_id not in self.answers:
            self.answers[lease_id] = granted = min(quantity, self.available)
            self.available -= granted
        return self.answers[lease_id]


class FakeLinks:
    """Segmentation's identity links (the LinkedAccounts port); `down` answers as the adapter does."""

    def __init__(self, links: Mapping[str, Sequence[str]] | None = None, *, down: bool = False) -> None:
        self.links = {user: list(accounts) for user, accounts in (links or {}).items()}
        self.down = down

    async def linked_accounts(self, user_id: str) -> Sequence[str]:
        if self.down:
            raise Unavailable("segmentation did not answer", reason="SEGMENTATION_UNAVAILABLE")
        return self.links.get(user_id, [])
