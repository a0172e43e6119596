"""In-memory stand-ins for segmentation's unit of work and repository, for unit tests of the service
layer (cosmicpython's fake unit of work). The SQL itself, the rules compiled to SQL included, is proven
by tests/integration/segmentation.

The fakes subclass the real classes so that mypy holds every faked method to the real signature; they
never call the real constructors, so a method the fakes do not implement fails loudly (no connection)
instead of passing. A transaction is a snapshot of the tables: leaving it with an error puts the snapshot
back and drops the queued events, as Postgres's rollback would; a commit appends the events to the line's
outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import asyncpg

from libs.core import AlreadyExists, BusinessLine
from libs.core.ids import USER_ID_PREFIX
from libs.events.outbox import OutboxEvent
from services.segmentation.adapters.repository import SegmentationRepository
from services.segmentation.domain.model import Channel, IdentityKind, Profile, Segment, SegmentRule, User
from services.segmentation.service_layer.unit_of_work import UnitOfWork
from tests.unit.fake_uow import FakeLineTransaction

FIRST_USER_NUMBER = 1000001  # CREATE SEQUENCE user_number START 1000001


@dataclass(frozen=True, slots=True)
class Link:
    """An identity_links row."""

    identity_hash: bytes
    kind: IdentityKind
    line: BusinessLine
    user_id: str


@dataclass
class LineTables:
    """One line's schema (segmentation_mall or segmentation_pingou)."""

    users: dict[str, tuple[int, User]] = field(default_factory=dict)  # users, PRIMARY KEY (user_id): (number, user)
    next_number: int = FIRST_USER_NUMBER
    segments: dict[tuple[str, int], Segment] = field(default_factory=dict)  # PRIMARY KEY (segment_id, version)
    outbox: list[OutboxEvent] = field(default_factory=list)


@dataclass
class FakeDatabase:
    """Both lines' schemas and the shared segmentation_identity schema."""

    lines: dict[BusinessLine, LineTables] = field(default_factory=lambda: {line: LineTables() for line in BusinessLine})
    links: list[Link] = field(default_factory=list)

    def restore(self, snapshot: FakeDatabase) -> None:
        # The user number sequence is not transactional: a rolled-back registration still used its number.
        numbers = {line: tables.next_number for line, tables in self.lines.items()}
        self.lines, self.links = snapshot.lines, snapshot.links
        for line, number in numbers.items():
            self.lines[line].next_number = number


def _earliest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None else min(current, new)  # least() ignores NULL


def _latest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None else max(current, new)  # greatest() ignores NULL


class FakeSegmentationRepository(SegmentationRepository):
    def __init__(self, database: FakeDatabase, line: BusinessLine) -> None:  # no connection on purpose
        self._database = database
        self.line = line
        self.racing_definitions = 0  # definitions that another transaction will commit first

    @property
    def _tables(self) -> LineTables:
        return self._database.lines[self.line]

    # --- users

    async def add_user(self, *, city: str, city_tier: int, city_known: bool, channel: Channel) -> User:
        number = self._tables.next_number
        self._tables.next_number += 1
        user = User(
            user_id=f"{USER_ID_PREFIX[self.line]}{number}",
            line=self.line,
            city=city,
            city_tier=city_tier,
            city_known=city_known,
            channel=channel,
            registered_at=datetime.now(UTC),
            profile=Profile(None, 0, 0, None, None),
        )
        self._tables.users[user.user_id] = (number, user)
        return user

    async def get_user(self, user_id: str) -> User | None:
        found = self._tables.users.get(user_id)
        return None if found is None else found[1]

    async def update_profile(
        self,
        user_id: str,
        *,
        city: str | None,
        city_tier: int | None,
        city_known: bool | None,
        channel: Channel | None,
    ) -> User | None:
        found = self._tables.users.get(user_id)
        if found is None:
            return None
        number, user = found
        updated = replace(  # coalesce($n, column): what is not given stays
            user,
            city=user.city if city is None else city,
            city_tier=user.city_tier if city_tier is None else city_tier,
            city_known=user.city_known if city_known is None else city_known,
            channel=user.channel if channel is None else channel,
        )
        self._tables.users[user_id] = (number, updated)
        return updated

    def _set_profile(self, user_id: str, **changes: object) -> bool:
        found = self._tables.users.get(user_id)
        if found is None:
            return False  # UPDATE 0
        number, user = found
        self._tables.users[user_id] = (number, replace(user, profile=replace(user.profile, **changes)))  # type: ignore[arg-type]
        return True

    # --- identity links

    async def link_identity(self, user_id: str, *, kind: IdentityKind, digest: bytes) -> None:
        for link in self._database.links:
            mine = link.line is self.line and link.user_id == user_id
            if mine and link.kind is kind and link.identity_hash == digest:
                return  # the same identity again
            if mine and link.kind is kind:  # PRIMARY KEY (line, user_id, kind)
                raise AlreadyExists(
                    f"{user_id} is already linked to another {kind}", reason="IDENTITY_KIND_ALREADY_LINKED"
                )
            if link.line is self.line and link.identity_hash == digest:  # UNIQUE (identity_hash, line)
                raise AlreadyExists(
                    f"this {kind} already belongs to another {self.line} account",
                    reason="IDENTITY_ALREADY_REGISTERED",
                    metadata={"user_id": link.user_id},
                )
        self._database.links.append(Link(digest, kind, self.line, user_id))

    def _links_of(self, user_id: str) -> set[tuple[str, BusinessLine, IdentityKind]]:
        """Other accounts sharing an identity hash with this one, on either line."""
        mine = {
            link.identity_hash for link in self._database.links if (link.line, link.user_id) == (self.line, user_id)
        }
        return {
            (link.user_id, link.line, link.kind)
            for link in self._database.links
            if link.identity_hash in mine and (link.line, link.user_id) != (self.line, user_id)
        }

    async def linked_accounts(self, user_id: str) -> list[tuple[str, BusinessLine, IdentityKind]]:
        return sorted(self._links_of(user_id), key=lambda account: (account[1].value, account[0]))

    async def is_new_to_company(self, user_id: str) -> bool | None:
        user = await self.get_user(user_id)
        return None if user is None else self._new_to_company(user)

    def _new_to_company(self, user: User) -> bool:
        """rules_sql.new_to_company_sql: no paid order on this account nor on any account linked to it."""
        ordered = any(
            self._database.lines[line].users[account][1].profile.order_count > 0
            for account, line, _ in self._links_of(user.user_id)
            if account in self._database.lines[line].users
        )
        return user.profile.order_count == 0 and not ordered

    # --- profiles

    async def record_order_paid(self, user_id: str, *, amount_minor: int, paid_at: datetime) -> bool:
        user = await self.get_user(user_id)
        if user is None:
            return False
        profile = user.profile
        return self._set_profile(
            user_id,
            order_count=profile.order_count + 1,
            spend_minor=profile.spend_minor + amount_minor,
            first_order_at=_earliest(profile.first_order_at, paid_at),
            last_active_at=_latest(profile.last_active_at, paid_at),
        )

    async def record_refund(self, user_id: str, *, amount_minor: int) -> bool:
        user = await self.get_user(user_id)
        return user is not None and self._set_profile(user_id, spend_minor=user.profile.spend_minor - amount_minor)

    async def record_activity(self, user_id: str, *, at: datetime) -> bool:
        user = await self.get_user(user_id)
        return user is not None and self._set_profile(user_id, last_active_at=_latest(user.profile.last_active_at, at))

    async def record_plus_until(self, user_id: str, *, until: datetime) -> bool:
        user = await self.get_user(user_id)
        return user is not None and self._set_profile(user_id, plus_until=_latest(user.profile.plus_until, until))

    async def record_plus_expired(self, user_id: str, *, at: datetime) -> bool:
        user = await self.get_user(user_id)
        if user is None:
            return False
        current = user.profile.plus_until  # CASE WHEN plus_until <= $2 THEN $2 ELSE plus_until END
        return self._set_profile(user_id, plus_until=at if current is not None and current <= at else current)

    # --- segments

    async def add_segment_version(
        self, *, segment_id: str, description: str, rule: SegmentRule, created_by: str
    ) -> Segment:
        versions = [version for (segment, version) in self._tables.segments if segment == segment_id]
        version = max(versions, default=0) + 1
        if self.racing_definitions:  # PRIMARY KEY (segment_id, version): a concurrent definition took it
            self.racing_definitions -= 1
            raise asyncpg.UniqueViolationError("duplicate key value violates unique constraint segments_pkey")
        segment = Segment(segment_id, version, self.line, description, rule, created_at=datetime.now(UTC))
        self._tables.segments[(segment_id, version)] = segment
        return segment

    async def segment(self, segment_id: str, *, version: int | None = None) -> Segment | None:
        found = [s for (sid, v), s in self._tables.segments.items() if sid == segment_id and version in (None, v)]
        return max(found, key=lambda s: s.version, default=None)

    async def latest_segments(self) -> list[Segment]:
        latest: dict[str, Segment] = {}
        for segment in self._tables.segments.values():
            if segment.segment_id not in latest or segment.version > latest[segment.segment_id].version:
                latest[segment.segment_id] = segment
        return [latest[segment_id] for segment_id in sorted(latest)]

    async def segments_of(self, user_id: str, segments: Sequence[Segment]) -> list[Segment]:
        user = await self.get_user(user_id)
        return [] if user is None else [s for s in segments if self._holds(s.rule, user)]

    async def segment_members(self, segment: Segment, *, after_number: int, limit: int) -> list[tuple[int, User]]:
        members = sorted(
            (number, user)
            for number, user in self._tables.users.values()
            if number > after_number and self._holds(segment.rule, user)
        )
        return members[:limit]

    def _holds(self, rule: SegmentRule, user: User) -> bool:
        """rules_sql.rule_condition in Python: every condition that is set must hold."""
        now, profile = datetime.now(UTC), user.profile
        checks = [
            rule.min_tier is None or user.city_tier >= rule.min_tier,
            rule.max_tier is None or user.city_tier <= rule.max_tier,
            not rule.channels or user.channel in rule.channels,
            rule.new_to_company is None or self._new_to_company(user) is rule.new_to_company,
            rule.dormant_days is None
            or (profile.last_active_at or user.registered_at) <= now - timedelta(days=rule.dormant_days),
            rule.plus_member is None or profile.plus_member(now) is rule.plus_member,
            rule.min_orders is None or profile.order_count >= rule.min_orders,
            rule.max_orders is None or profile.order_count <= rule.max_orders,
        ]
        return all(checks)


class FakeUnitOfWork(FakeLineTransaction, UnitOfWork):
    """One line's unit of work over the fake database; counts its commits and rollbacks."""

    database: FakeDatabase

    def __init__(self, database: FakeDatabase | None = None, line: BusinessLine = BusinessLine.PINGOU) -> None:
        super().__init__(None, line)
        self.database = database if database is not None else FakeDatabase()
        self.repository = FakeSegmentationRepository(self.database, line)
        self.users = self.repository
        self.begin()

    @property
    def tables(self) -> LineTables:
        return self.database.lines[self.line]
