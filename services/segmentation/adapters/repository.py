"""PostgreSQL access for segmentation. One repository per line, on a connection whose search_path is
that line's schema; the link table and the other line's users are named by their schema."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from libs.core import AlreadyExists, BusinessLine
from libs.core.ids import USER_ID_PREFIX
from services.segmentation.adapters.rules_sql import (
    IDENTITY_SCHEMA,
    Params,
    new_to_company_sql,
    rule_condition,
)
from services.segmentation.domain.model import Channel, IdentityKind, Profile, Segment, SegmentRule, User

_USER_COLUMNS = """u.user_id, u.user_number, u.city, u.city_tier, u.city_known, u.channel, u.registered_at,
    u.first_order_at, u.order_count, u.spend_minor, u.plus_until, u.last_active_at"""


class SegmentationRepository:
    def __init__(self, connection: asyncpg.Connection, line: BusinessLine):
        self._db = connection
        self.line = line

    # --- users

    async def add_user(self, *, city: str, city_tier: int, city_known: bool, channel: Channel) -> User:
        row = await self._db.fetchrow(
            f"""WITH issued AS (SELECT nextval('user_number') AS number)
            INSERT INTO users AS u (user_id, user_number, city, city_tier, city_known, channel)
            SELECT $1 || issued.number, issued.number, $2, $3, $4, $5 FROM issued
            RETURNING {_USER_COLUMNS}""",
            USER_ID_PREFIX[self.line],
            city,
            city_tier,
            city_known,
            channel.value,
        )
        return self._user(row)

    async def get_user(self, user_id: str) -> User | None:
        row = await self._db.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.user_id = $1", user_id)
        return None if row is None else self._user(row)

    async def update_profile(
        self,
        user_id: str,
        *,
        city: str | None,
        city_tier: int | None,
        city_known: bool | None,
        channel: Channel | None,
    ) -> User | None:
        row = await self._db.fetchrow(
            f"""UPDATE users u SET city = coalesce($2, city), city_tier = coalesce($3, city_tier),
                city_known = coalesce($4, city_known), channel = coalesce($5, channel)
            WHERE u.user_id = $1 RETURNING {_USER_COLUMNS}""",
            user_id,
            city,
            city_tier,
            city_known,
            None if channel is None else channel.value,
        )
        return None if row is None else self._user(row)

    # --- identity links

    async def link_identity(self, user_id: str, *, kind: IdentityKind, digest: bytes) -> None:
        """Idempotent for the same identity; refuses a second identity of a kind, or an identity that
        already belongs to another account of this line (one account per person and line)."""
        existing = await self._db.fetchrow(
            f"""SELECT line, user_id, kind, identity_hash FROM {IDENTITY_SCHEMA}.identity_links
            WHERE (line = $1 AND user_id = $2 AND kind = $3) OR (identity_hash = $4 AND line = $1)""",
            self.line.value,
            user_id,
            kind.value,
            digest,
        )
        if existing is not None:
            if existing["user_id"] == user_id and existing["identity_hash"] == digest:
                return
            if existing["user_id"] == user_id:
                raise AlreadyExists(
                    f"{user_id} is already linked to another {kind}", reason="IDENTITY_KIND_ALREADY_LINKED"
                )
            raise AlreadyExists(
                f"this {kind} already belongs to another {self.line} account",
                reason="IDENTITY_ALREADY_REGISTERED",
                metadata={"user_id": existing["user_id"]},
            )
        try:
            async with self._db.transaction():  # a savepoint: a lost race leaves the caller's transaction usable
                await self._db.execute(
                    f"""INSERT INTO {IDENTITY_SCHEMA}.identity_links (identity_hash, kind, line, user_id)
                    VALUES ($1, $2, $3, $4)""",
                    digest,
                    kind.value,
                    self.line.value,
                    user_id,
                )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"this {kind} was linked to another {self.line} account at the same moment",
                reason="IDENTITY_ALREADY_REGISTERED",
            ) from None

    async def linked_accounts(self, user_id: str) -> list[tuple[str, BusinessLine, IdentityKind]]:
        rows = await self._db.fetch(
            f"""SELECT DISTINCT theirs.user_id, theirs.line, theirs.kind
            FROM {IDENTITY_SCHEMA}.identity_links mine
            JOIN {IDENTITY_SCHEMA}.identity_links theirs
              ON theirs.identity_hash = mine.identity_hash
             AND (theirs.line, theirs.user_id) <> (mine.line, mine.user_id)
            WHERE mine.line = $1 AND mine.user_id = $2
            ORDER BY theirs.line, theirs.user_id""",
            self.line.value,
            user_id,
        )
        return [(row["user_id"], BusinessLine(row["line"]), IdentityKind(row["kind"])) for row in rows]

    async def is_new_to_company(self, user_id: str) -> bool | None:
        """None when the user does not exist."""
        value = await self._db.fetchval(
            f"SELECT {new_to_company_sql('$2')} FROM users u WHERE u.user_id = $1", user_id, self.line.value
        )
        return None if value is None else bool(value)

    # --- profiles, from events (each returns False when the user is unknown)

    async def record_order_paid(self, user_id: str, *, amount_minor: int, paid_at: datetime) -> bool:
        status = await self._db.execute(
            """UPDATE users SET order_count = order_count + 1, spend_minor = spend_minor + $2,
                first_order_at = least(first_order_at, $3), last_active_at = greatest(last_active_at, $3)
            WHERE user_id = $1""",
            user_id,
            amount_minor,
            paid_at,
        )
        return _updated_one(status)

    async def record_refund(self, user_id: str, *, amount_minor: int) -> bool:
        status = await self._db.execute(
            "UPDATE users SET spend_minor = spend_minor - $2 WHERE user_id = $1", user_id, amount_minor
        )
        return _updated_one(status)

    async def record_activity(self, user_id: str, *, at: datetime) -> bool:
        status = await self._db.execute(
            "UPDATE users SET last_active_at = greatest(last_active_at, $2) WHERE user_id = $1", user_id, at
        )
        return _updated_one(status)

    async def record_plus_until(self, user_id: str, *, until: datetime) -> bool:
        status = await self._db.execute(
            "UPDATE users SET plus_until = greatest(plus_until, $2) WHERE user_id = $1", user_id, until
        )
        return _updated_one(status)

    async def record_plus_expired(self, user_id: str, *, at: datetime) -> bool:
        # An expiry older than the membership's current end (a renewal came first) changes nothing.
        status = await self._db.execute(
            "UPDATE users SET plus_until = CASE WHEN plus_until <= $2 THEN $2 ELSE plus_until END WHERE user_id = $1",
            user_id,
            at,
        )
        return _updated_one(status)

    # --- segments

    async def add_segment_version(
        self, *, segment_id: str, description: str, rule: SegmentRule, created_by: str
    ) -> Segment:
        row = await self._db.fetchrow(
            """INSERT INTO segments (segment_id, version, description, rule, created_by)
            SELECT $1, coalesce(max(version), 0) + 1, $2, $3::jsonb, $4 FROM segments WHERE segment_id = $1
            RETURNING segment_id, version, description, rule, created_at""",
            segment_id,
            description,
            json.dumps(rule.to_json()),
            created_by,
        )
        return self._segment(row)

    async def segment(self, segment_id: str, *, version: int | None = None) -> Segment | None:
        row = await self._db.fetchrow(
            """SELECT segment_id, version, description, rule, created_at FROM segments
            WHERE segment_id = $1 AND ($2::integer IS NULL OR version = $2) ORDER BY version DESC LIMIT 1""",
            segment_id,
            version,
        )
        return None if row is None else self._segment(row)

    async def latest_segments(self) -> list[Segment]:
        rows = await self._db.fetch(
            """SELECT DISTINCT ON (segment_id) segment_id, version, description, rule, created_at
            FROM segments ORDER BY segment_id, version DESC"""
        )
        return [self._segment(row) for row in rows]

    async def segments_of(self, user_id: str, segments: Sequence[Segment]) -> list[Segment]:
        """The segments whose rule holds for the user now, in one round trip."""
        if not segments:
            return []
        params = Params(user_id)
        branches = [
            f"SELECT {index} AS position FROM users u WHERE u.user_id = $1 AND {condition}"
            for index, condition in enumerate(rule_condition(seg.rule, self.line, params) for seg in segments)
        ]
        rows = await self._db.fetch(" UNION ALL ".join(branches), *params.values)
        return [segments[row["position"]] for row in sorted(rows, key=lambda row: row["position"])]

    async def segment_members(self, segment: Segment, *, after_number: int, limit: int) -> list[tuple[int, User]]:
        params = Params(after_number)
        condition = rule_condition(segment.rule, self.line, params)
        rows = await self._db.fetch(
            f"""SELECT {_USER_COLUMNS} FROM users u WHERE u.user_number > $1 AND {condition}
            ORDER BY u.user_number LIMIT {params.add(limit)}""",
            *params.values,
        )
        return [(row["user_number"], self._user(row)) for row in rows]

    # --- mapping

    def _user(self, row: Any) -> User:
        return User(
            user_id=row["user_id"],
            line=self.line,
            city=row["city"],
            city_tier=row["city_tier"],
            city_known=row["city_known"],
            channel=Channel(row["channel"]),
            registered_at=row["registered_at"],
            profile=Profile(
                first_order_at=row["first_order_at"],
                order_count=row["order_count"],
                spend_minor=row["spend_minor"],
                plus_until=row["plus_until"],
                last_active_at=row["last_active_at"],
            ),
        )

    def _segment(self, row: Any) -> Segment:
        return Segment(
            segment_id=row["segment_id"],
            version=row["version"],
            line=self.line,
            description=row["description"],
            rule=SegmentRule.from_json(json.loads(row["rule"])),
            created_at=row["created_at"],
        )


def _updated_one(status: str) -> bool:
    return str(status) == "UPDATE 1"
