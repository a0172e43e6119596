"""PostgreSQL access for groupbuy (schema groupbuy_pingou).

The seat-taking statements (open, join) are single statements: the conditional seat count update, the
seat, the per-user and daily counters and the outbox rows are CTEs of one INSERT/UPDATE, so a join is one
round trip and one implicit transaction. The database refuses what concurrency could break: the
conditional update and `seats_within_size` (never more seats than the size), `seats_one_per_user_per_group`
(a user at most once in a group), `per_user_limit` and `daily_open_cap` (each a CHECK on a counter row).
A refused constraint aborts the whole statement, so nothing of a refused seat is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg

from libs.core import AlreadyExists, DomainError, FailedPrecondition, ResourceExhausted
from libs.events import OutboxRows
from libs.events.outbox import outbox_insert
from libs.jobs import not_set_aside
from services.groupbuy.domain.model import (
    AllotmentEmpty,
    FailureReason,
    Group,
    GroupState,
    GroupTerms,
    ReleaseReason,
    Seat,
    SeatRequest,
    SeatState,
)
from services.groupbuy.domain.paging import OpenGroupsPage, UserGroupsPage

# What take_allotment (migrations/line/groupbuy_0002) raises when a SKU's allotment is empty.
ALLOTMENT_EMPTY_SQLSTATE = "GB001"

# A transaction's connection, or the pool (each statement then runs as its own transaction).
Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool

_GROUP_COLUMNS = """group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason"""
_SEAT_COLUMNS = """seat_id, group_id, user_id, leader, state, invite_code, inviter_user_id, unit_price_minor,
    shipping_city, channel, order_id, held_at, pay_by, paid_at, release_reason"""


def _announce(first: int) -> str:
    """The outbox rows ride in the statement as arrays ($first..$first+5); inserted only when the seat is."""
    return f"announced AS ({outbox_insert(first, only_with='seat')})"


# The seat's unit of stock, taken from the allotment only when the seat's group row was changed ({0}).
# An empty allotment raises (GB001) and undoes the whole statement.
_TAKE_UNIT = """unit AS (
    SELECT t.bucket, t.remaining FROM {0}, LATERAL take_allotment({0}.sku_id, ${1}) t)"""

_COUNT_USER = """counted AS (
    INSERT INTO user_sku_groups AS u (user_id, sku_id, active, max_active)
    SELECT seat.user_id, {0}.sku_id, 1, {0}.per_user_limit FROM seat, {0}
    ON CONFLICT (user_id, sku_id)
    DO UPDATE SET active = u.active + 1, max_active = excluded.max_active)"""

# A new-user-only seat claims the person's accounts (${0}, empty for other groups): one claim per account,
# so a second seat of the same person anywhere is a unique violation that undoes the statement.
_CLAIM_NEW_USER = """claimed AS (
    INSERT INTO new_user_claims (account_id, seat_id, group_id)
    SELECT account, seat.seat_id, seat.group_id FROM seat, unnest(${0}::text[]) AS account)"""

# $17: the seat's order id, $18: the allotment bucket to start from, $19: the accounts a new-user seat claims.
_HOLD_SEAT = f"""
WITH taken AS (
    UPDATE groups SET seats_taken = seats_taken + 1
    WHERE group_id = $1 AND state = 'open' AND seats_taken < size AND expires_at > $9
    RETURNING {_GROUP_COLUMNS}
), {_TAKE_UNIT.format("taken", 18)}, seat AS (
    INSERT INTO seats (seat_id, group_id, user_id, leader, request_key, invite_code, inviter_user_id,
        unit_price_minor, shipping_city, channel, held_at, pay_by, order_id, stock_bucket)
    SELECT $2, group_id, $3, false, $4, $5, $6, group_price_minor, $7, $8, $9, $10, $17, unit.bucket
    FROM taken, unit
    RETURNING user_id, seat_id, group_id
), {_CLAIM_NEW_USER.format(19)}, {_COUNT_USER.format("taken")}, {_announce(11)}
SELECT {_GROUP_COLUMNS}, (SELECT remaining FROM unit) AS stock_remaining FROM taken
"""

# $28: the leader's order id, $29: the allotment bucket to start from, $30: the accounts a new-user seat claims.
_OPEN_GROUP = f"""
WITH opened AS (
    INSERT INTO groups (group_id, sku_id, leader_user_id, size, seats_taken, group_price_minor,
        leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match,
        share_code, opened_at, expires_at)
    VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    RETURNING {_GROUP_COLUMNS}
), {_TAKE_UNIT.format("opened", 29)}, seat AS (
    INSERT INTO seats (seat_id, group_id, user_id, leader, request_key, invite_code, unit_price_minor,
        shipping_city, channel, held_at, pay_by, order_id, stock_bucket)
    SELECT $15, group_id, leader_user_id, true, $16, share_code, leader_price_minor, $17, $18, opened_at, $19,
        $28, unit.bucket
    FROM opened, unit
    RETURNING user_id, seat_id, group_id
), {_CLAIM_NEW_USER.format(30)}, {_COUNT_USER.format("opened")}, capped AS (
    INSERT INTO daily_opens AS d (user_id, day, opened, cap) SELECT user_id, $20, 1, $21 FROM seat
    ON CONFLICT (user_id, day) DO UPDATE SET opened = d.opened + 1, cap = excluded.cap
), {_announce(22)}
SELECT {_GROUP_COLUMNS}, (SELECT remaining FROM unit) AS stock_remaining FROM opened
"""

# Units of stock given back to the allotment, counted per (SKU, bucket) first for the same reason as
# below: an UPDATE ... FROM changes a row once however many rows join it. {0}: seats (with group_id and
# stock_bucket) whose units come back.
_GIVE_BACK_UNITS = """given_back AS (
    UPDATE allotments a SET available = a.available + back.n
    FROM (SELECT g.sku_id, s.stock_bucket, count(*)::int AS n FROM {0} s JOIN groups g USING (group_id)
          WHERE s.stock_bucket IS NOT NULL GROUP BY g.sku_id, s.stock_bucket) back
    WHERE a.sku_id = back.sku_id AND a.bucket = back.stock_bucket)"""

# Releases held seats, gives their units of stock back, and frees their places in groups still open (and
# the per-user count there). A seat of a closed group is only marked: its group's counts were settled
# when it closed.
_RELEASE_SEATS = f"""
WITH released AS (
    UPDATE seats SET state = 'released', released_at = $2, release_reason = $3
    WHERE seat_id = ANY($1::uuid[]) AND state = 'held'
    RETURNING {_SEAT_COLUMNS}, stock_bucket
), {_GIVE_BACK_UNITS.format("released")}, per_group AS (
    SELECT group_id, count(*)::int AS n FROM released GROUP BY group_id
), freed AS (
    UPDATE groups g SET seats_taken = g.seats_taken - per_group.n FROM per_group
    WHERE g.group_id = per_group.group_id AND g.state = 'open'
    RETURNING g.group_id, g.sku_id
), uncounted AS (
    -- Counted per (user, SKU) first: an UPDATE ... FROM changes a row once however many rows join it, so
    -- two seats of one user in two groups of a SKU must come as one row of n = 2.
    UPDATE user_sku_groups u SET active = u.active - c.n
    FROM (SELECT released.user_id, freed.sku_id, count(*)::int AS n FROM released JOIN freed USING (group_id)
          GROUP BY released.user_id, freed.sku_id) c
    WHERE u.user_id = c.user_id AND u.sku_id = c.sku_id
)
SELECT {_SEAT_COLUMNS} FROM released
"""

# The seat of an order: by its order id (named when the seat was held), else, for a seat held before
# seats named their orders, the user's seat in the group (one at most is not released).
_SEAT_OF_ORDER = f"""
SELECT {_SEAT_COLUMNS} FROM seats
WHERE order_id = $1 OR (order_id IS NULL AND group_id = $2 AND user_id = $3 AND state <> 'released')
ORDER BY order_id IS NULL LIMIT 1 FOR UPDATE
"""

# Only a seat of an open group becomes paid: a payment for a seat of a closed group must be refunded, not
# counted (the caller announces the outcome again for it).
_PAY_SEAT = f"""
WITH paid AS (
    UPDATE seats s SET state = 'paid', paid_at = $2, order_id = coalesce(s.order_id, $3)
    FROM groups g WHERE s.seat_id = $1 AND s.state = 'held' AND g.group_id = s.group_id AND g.state = 'open'
    RETURNING s.group_id
), counted AS (
    UPDATE groups g SET seats_paid = g.seats_paid + 1,
        state = CASE WHEN g.seats_paid + 1 = g.size AND g.expires_at > $2 THEN 'completed' ELSE g.state END,
        closed_at = CASE WHEN g.seats_paid + 1 = g.size AND g.expires_at > $2 THEN $4 ELSE g.closed_at END
    FROM paid WHERE g.group_id = paid.group_id AND g.state = 'open'
    RETURNING {", ".join(f"g.{column.strip()}" for column in _GROUP_COLUMNS.split(","))}
)
SELECT {_GROUP_COLUMNS} FROM counted
"""

# A failed group's paid seats are refunded: their units of stock go back to the allotment.
_GIVE_BACK_PAID = f"""
WITH refunded AS (SELECT group_id, stock_bucket FROM seats WHERE group_id = ANY($1::uuid[]) AND state = 'paid'),
{_GIVE_BACK_UNITS.format("refunded")}
SELECT 1
"""

# The lease's grant, spread over the SKU's eight buckets (the rows are made on the first lease).
_CREDIT_LEASE = """
WITH credited AS (
    UPDATE stock_leases SET granted = $2, credited_at = $3 WHERE lease_id = $1 AND credited_at IS NULL
    RETURNING sku_id
), spread AS (
    INSERT INTO allotments AS a (sku_id, bucket, available)
    SELECT credited.sku_id, b, $2 / 8 + CASE WHEN b < $2 % 8 THEN 1 ELSE 0 END
    FROM credited, generate_series(0, 7) b ORDER BY b  -- rows locked in the order waiting joins take them
    ON CONFLICT (sku_id, bucket) DO UPDATE SET available = a.available + excluded.available
)
SELECT count(*) > 0 FROM credited
"""

# Closed groups no longer count towards their members' per-user limit.
_UNCOUNT_CLOSED = """
UPDATE user_sku_groups u SET active = u.active - c.n
FROM (SELECT s.user_id, g.sku_id, count(*)::int AS n FROM seats s JOIN groups g USING (group_id)
      WHERE s.group_id = ANY($1::uuid[]) AND s.state <> 'released' GROUP BY s.user_id, g.sku_id) c
WHERE u.user_id = c.user_id AND u.sku_id = c.sku_id
"""

# Open groups whose window ended by $1 that no held seat keeps open any more. A held seat keeps its group
# open while a payment of it may still be confirmed in time ($3: seats whose pay_by is before it can no
# longer be paid in time, libs.core.orders' rule), and, when its order is known, until that order's
# OrderPaid or OrderCancelled comes (which decides between completion and failure), or the fallback ($2)
# passed: the events are then taken as lost. $5: the window job's name, for its rows set aside.
_DUE_GROUPS = f"""
SELECT group_id FROM groups g WHERE state = 'open' AND expires_at <= $1
    AND NOT EXISTS (
        SELECT 1 FROM seats s WHERE s.group_id = g.group_id AND s.state = 'held'
            AND (s.pay_by >= $3 OR (s.order_id IS NOT NULL AND g.expires_at > $2)))
    AND {not_set_aside("g.group_id::text", job_param="$5")}
ORDER BY expires_at LIMIT $4 FOR UPDATE SKIP LOCKED
"""

_FAIL_GROUPS = f"""
UPDATE groups SET state = 'failed', closed_at = $2, failure_reason = $3
WHERE group_id = ANY($1::uuid[]) AND state = 'open'
RETURNING {_GROUP_COLUMNS}
"""

_CANDIDATES = f"""
SELECT {_GROUP_COLUMNS} FROM groups g
WHERE sku_id = $1 AND state = 'open' AND strangers_can_join AND auto_match AND seats_taken < size
    AND expires_at > $2 AND (NOT new_user_only OR $3) AND (NOT plus_only OR $4)
    AND NOT EXISTS (SELECT 1 FROM seats s WHERE s.group_id = g.group_id AND s.user_id = $5 AND s.state <> 'released')
ORDER BY seats_taken DESC, expires_at, group_id
LIMIT $6
"""


class GroupRepository:
    """Over a pool (each statement its own transaction: the hot path) or a transaction's connection."""

    def __init__(self, db: Executor):
        self._db = db

    # --- taking seats

    async def open_group(
        self, *, group_id: str, terms: GroupTerms, seat: SeatRequest, expires_at: datetime, day: date,
        daily_cap: int, events: OutboxRows,
    ) -> tuple[Group, int]:  # fmt: skip
        """The group opened with its leader's seat, and the units left in the bucket the seat's unit came
        from. Raises AllotmentEmpty when no unit of the SKU is left (nothing is written)."""
        try:
            row = await self._db.fetchrow(
                _OPEN_GROUP,
                group_id,
                terms.sku_id,
                seat.buyer.user_id,
                terms.size,
                terms.group_price_minor,
                seat.unit_price_minor,
                terms.per_user_limit,
                terms.new_user_only,
                terms.plus_only,
                terms.strangers_can_join,
                terms.auto_match,
                seat.invite_code,
                seat.held_at,
                expires_at,
                seat.seat_id,
                seat.buyer.request_key,
                seat.buyer.shipping_city,
                seat.buyer.channel,
                seat.pay_by,
                day,
                daily_cap,
                *events.arguments(),
                seat.order_id,
                seat.stock_start,
                list(seat.claims),
            )
        except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError) as error:
            raise refusal(error, daily_cap=daily_cap, per_user_limit=terms.per_user_limit) from None
        except asyncpg.PostgresError as error:
            raise _allotment_empty(error, terms.sku_id) from None
        return group_from_row(row), row["stock_remaining"]

    async def hold_seat(
        self, seat: SeatRequest, *, sku_id: str, per_user_limit: int, events: OutboxRows
    ) -> tuple[Group, int] | None:
        """The group with the seat taken, or None when the group had no seat to give (closed, full,
        ended or unknown: read the group to say which)."""
        try:
            row = await self._db.fetchrow(
                _HOLD_SEAT,
                seat.group_id,
                seat.seat_id,
                seat.buyer.user_id,
                seat.buyer.request_key,
                seat.invite_code,
                seat.inviter_user_id,
                seat.buyer.shipping_city,
                seat.buyer.channel,
                seat.held_at,
                seat.pay_by,
                *events.arguments(),
                seat.order_id,
                seat.stock_start,
                list(seat.claims),
            )
        except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError) as error:
            raise refusal(error, per_user_limit=per_user_limit) from None
        except asyncpg.PostgresError as error:
            raise _allotment_empty(error, sku_id) from None
        return None if row is None else (group_from_row(row), row["stock_remaining"])

    async def release_seats(self, seat_ids: Sequence[str], *, reason: ReleaseReason, at: datetime) -> list[Seat]:
        """Releases those of the seats still held; returns them."""
        rows = await self._db.fetch(_RELEASE_SEATS, list(seat_ids), at, reason.value)
        return [seat_from_row(row) for row in rows]

    # --- payment, completion, failure

    async def seat_of_order(self, *, order_id: str, group_id: str, user_id: str) -> Seat | None:
        row = await self._db.fetchrow(_SEAT_OF_ORDER, order_id, group_id, user_id)
        return None if row is None else seat_from_row(row)

    async def pay_seat(self, seat_id: str, *, order_id: str, paid_at: datetime, now: datetime) -> Group | None:
        """Marks a held seat paid and counts it in its open group, completing the group when this was the
        last seat (and it was paid within the window). The group as it is now, or None when the seat was
        not held or its group is closed."""
        row = await self._db.fetchrow(_PAY_SEAT, seat_id, paid_at, order_id, now)
        return None if row is None else group_from_row(row)

    async def claim_due_groups(
        self, *, ended_by: datetime, given_up_by: datetime, pay_by_closed_before: datetime, job: str, limit: int
    ) -> list[str]:
        """Up to `limit` open groups, locked, whose window ended by `ended_by` and which no held seat keeps
        open: none may still be paid in time (pay_by not before `pay_by_closed_before`), and none waits for
        its known order's events, unless the window ended by `given_up_by` (the events taken as lost)."""
        rows = await self._db.fetch(_DUE_GROUPS, ended_by, given_up_by, pay_by_closed_before, limit, job)
        return [str(row["group_id"]) for row in rows]

    async def fail_groups(self, group_ids: Sequence[str], *, reason: FailureReason, now: datetime) -> list[Group]:
        """Fails those of the groups (locked) still open; returns them."""
        rows = await self._db.fetch(_FAIL_GROUPS, list(group_ids), now, reason.value)
        return [group_from_row(row) for row in rows]

    async def give_back_daily_open(self, user_id: str, *, day: date) -> None:
        """A group that never really opened (its leader's order was refused) does not count towards the
        leader's daily cap."""
        await self._db.execute(
            "UPDATE daily_opens SET opened = opened - 1 WHERE user_id = $1 AND day = $2 AND opened > 0", user_id, day
        )

    async def fail_group(self, group_id: str, *, reason: FailureReason, now: datetime) -> Group | None:
        row = await self._db.fetchrow(
            f"""UPDATE groups SET state = 'failed', closed_at = $2, failure_reason = $3
            WHERE group_id = $1 AND state = 'open' RETURNING {_GROUP_COLUMNS}""",
            group_id,
            now,
            reason.value,
        )
        return None if row is None else group_from_row(row)

    async def give_back_paid_units(self, group_ids: Sequence[str]) -> None:
        """The units of a failed group's paid (and refunded) seats go back to the allotment."""
        await self._db.execute(_GIVE_BACK_PAID, list(group_ids))

    # --- the allotment

    async def ask_lease(self, *, lease_id: str, sku_id: str, quantity: int, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO stock_leases (lease_id, sku_id, quantity, asked_at) VALUES ($1, $2, $3, $4)",
            lease_id,
            sku_id,
            quantity,
            at,
        )

    async def credit_lease(self, lease_id: str, *, granted: int, at: datetime) -> bool:
        """Adds what catalog granted to the SKU's allotment, spread over its buckets, once per lease; False
        when the lease was credited already."""
        return bool(await self._db.fetchval(_CREDIT_LEASE, lease_id, granted, at))

    async def uncredited_leases(self, *, asked_before: datetime, job: str, limit: int) -> list[tuple[str, str, int]]:
        """(lease id, SKU, quantity) of leases asked before then and never credited, locked (the lease job's
        rows set aside skipped)."""
        rows = await self._db.fetch(
            f"""SELECT lease_id::text, sku_id, quantity FROM stock_leases WHERE credited_at IS NULL AND asked_at < $1
                AND {not_set_aside("lease_id::text", job_param="$3")}
            ORDER BY asked_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            asked_before,
            limit,
            job,
        )
        return [(row["lease_id"], row["sku_id"], row["quantity"]) for row in rows]

    async def uncount_closed(self, group_ids: Sequence[str]) -> None:
        await self._db.execute(_UNCOUNT_CLOSED, list(group_ids))

    async def claim_stale_holds(self, *, before: datetime, job: str, limit: int) -> list[str]:
        """Held seats whose order never became known, with a payment limit before `before` (the backstop's
        rows set aside skipped). A seat with a known order is ended by that order's events only (OrderPaid
        may still be on its way). Their groups are locked too (skipping locked ones), so the release waits
        on no lock in the wrong order."""
        rows = await self._db.fetch(
            f"""SELECT s.seat_id FROM seats s JOIN groups g USING (group_id)
            WHERE s.state = 'held' AND s.order_id IS NULL AND s.pay_by < $1
                AND {not_set_aside("s.seat_id::text", job_param="$3")}
            ORDER BY s.pay_by LIMIT $2 FOR UPDATE OF s, g SKIP LOCKED""",
            before,
            limit,
            job,
        )
        return [str(row["seat_id"]) for row in rows]

    async def claim_unchecked_completed(self, *, job: str, limit: int) -> list[str]:
        """Completed groups not checked yet, oldest first, locked (the identity job's rows set aside skipped)."""
        rows = await self._db.fetch(
            f"""SELECT group_id FROM groups WHERE state = 'completed' AND NOT identity_checked
                AND {not_set_aside("group_id::text", job_param="$2")}
            ORDER BY closed_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
            job,
        )
        return [str(row["group_id"]) for row in rows]

    async def mark_identity_checked(self, group_id: str, *, flagged: bool) -> None:
        await self._db.execute(
            "UPDATE groups SET identity_checked = true, flagged = $2 WHERE group_id = $1", group_id, flagged
        )

    # --- reads

    async def lock_group(self, group_id: str) -> Group | None:
        """The group, locked until the transaction ends. Taken before any of its seats' rows, in every path
        that changes both, so two paths never wait on each other's locks."""
        row = await self._db.fetchrow(f"SELECT {_GROUP_COLUMNS} FROM groups WHERE group_id = $1 FOR UPDATE", group_id)
        return None if row is None else group_from_row(row)

    async def group(self, group_id: str) -> Group | None:
        row = await self._db.fetchrow(f"SELECT {_GROUP_COLUMNS} FROM groups WHERE group_id = $1", group_id)
        return None if row is None else group_from_row(row)

    async def seats(self, group_ids: Sequence[str], *, states: Sequence[SeatState]) -> list[Seat]:
        rows = await self._db.fetch(
            f"""SELECT {_SEAT_COLUMNS} FROM seats WHERE group_id = ANY($1::uuid[]) AND state = ANY($2::text[])
            ORDER BY held_at, seat_id""",
            list(group_ids),
            [state.value for state in states],
        )
        return [seat_from_row(row) for row in rows]

    async def seat_by_request(self, user_id: str, request_key: str) -> Seat | None:
        row = await self._db.fetchrow(
            f"SELECT {_SEAT_COLUMNS} FROM seats WHERE user_id = $1 AND request_key = $2", user_id, request_key
        )
        return None if row is None else seat_from_row(row)

    async def seat_by_invite(self, invite_code: str) -> Seat | None:
        row = await self._db.fetchrow(f"SELECT {_SEAT_COLUMNS} FROM seats WHERE invite_code = $1", invite_code)
        return None if row is None else seat_from_row(row)

    async def candidates(
        self, *, sku_id: str, user_id: str, new_user: bool, member: bool, open_after: datetime, limit: int
    ) -> list[Group]:
        rows = await self._db.fetch(_CANDIDATES, sku_id, open_after, new_user, member, user_id, limit)
        return [group_from_row(row) for row in rows]

    async def open_groups(self, *, sku_id: str, now: datetime, after: OpenGroupsPage | None, limit: int) -> list[Group]:
        rows = await self._db.fetch(
            f"""SELECT {_GROUP_COLUMNS} FROM groups
            WHERE sku_id = $1 AND state = 'open' AND strangers_can_join AND seats_taken < size AND expires_at > $2
                AND ($3::int IS NULL OR seats_taken < $3
                     OR (seats_taken = $3 AND (expires_at, group_id) > ($4, $5::uuid)))
            ORDER BY seats_taken DESC, expires_at, group_id LIMIT $6""",
            sku_id,
            now,
            None if after is None else after.seats_taken,
            None if after is None else after.expires_at,
            None if after is None else after.group_id,
            limit,
        )
        return [group_from_row(row) for row in rows]

    async def user_seats(self, *, user_id: str, after: UserGroupsPage | None, limit: int) -> list[tuple[Seat, Group]]:
        rows = await self._db.fetch(
            f"""SELECT {", ".join(f"s.{c.strip()} AS s_{c.strip()}" for c in _SEAT_COLUMNS.split(","))},
                {", ".join(f"g.{c.strip()}" for c in _GROUP_COLUMNS.split(","))}
            FROM seats s JOIN groups g USING (group_id)
            WHERE s.user_id = $1 AND ($2::timestamptz IS NULL OR (s.held_at, s.seat_id) < ($2, $3::uuid))
            ORDER BY s.held_at DESC, s.seat_id DESC LIMIT $4""",
            user_id,
            None if after is None else after.held_at,
            None if after is None else after.seat_id,
            limit,
        )
        return [(seat_from_row(row, prefix="s_"), group_from_row(row)) for row in rows]


def _allotment_empty(error: Exception, sku_id: str) -> Exception:
    """AllotmentEmpty for take_allotment's refusal; any other database error as it came."""
    if getattr(error, "sqlstate", None) == ALLOTMENT_EMPTY_SQLSTATE:
        return AllotmentEmpty(sku_id)
    return error


def refusal(
    error: asyncpg.UniqueViolationError | asyncpg.CheckViolationError, *, per_user_limit: int, daily_cap: int = 0
) -> DomainError:
    """The business reason behind a constraint that refused a seat."""
    constraint = getattr(error, "constraint_name", None) or ""
    if constraint == "seats_one_per_user_per_group":
        return AlreadyExists("the buyer already has a seat in this group", reason="ALREADY_IN_GROUP")
    if constraint == "seats_request_key":
        return AlreadyExists("this idempotency key was used for another seat", reason="REQUEST_KEY_REUSED")
    if constraint == "per_user_limit":
        return FailedPrecondition(
            f"the buyer is already in {per_user_limit} open group(s) of this SKU, the most allowed",
            reason="PER_USER_LIMIT_REACHED",
            metadata={"per_user_limit": str(per_user_limit)},
        )
    if constraint == "daily_open_cap":
        return ResourceExhausted(
            f"the buyer has opened {daily_cap} group(s) today, the most allowed per day",
            reason="DAILY_OPEN_LIMIT_REACHED",
            metadata={"daily_cap": str(daily_cap)},
        )
    if constraint == "new_user_claims_one_per_person":
        return FailedPrecondition(
            "this person already holds a seat in a new-user group (through this account or a linked one): "
            "the new-user discount is once per person",
            reason="NEW_USER_DISCOUNT_TAKEN",
        )
    if constraint == "seats_within_size":
        return FailedPrecondition("the group has no free seat", reason="GROUP_FULL")
    raise error


def group_from_row(row: Any) -> Group:
    return Group(
        group_id=str(row["group_id"]),
        sku_id=row["sku_id"],
        leader_user_id=row["leader_user_id"],
        state=GroupState(row["state"]),
        size=row["size"],
        seats_taken=row["seats_taken"],
        seats_paid=row["seats_paid"],
        group_price_minor=row["group_price_minor"],
        leader_price_minor=row["leader_price_minor"],
        per_user_limit=row["per_user_limit"],
        new_user_only=row["new_user_only"],
        plus_only=row["plus_only"],
        strangers_can_join=row["strangers_can_join"],
        auto_match=row["auto_match"],
        share_code=row["share_code"],
        opened_at=row["opened_at"],
        expires_at=row["expires_at"],
        closed_at=row["closed_at"],
        flagged=row["flagged"],
        failure_reason=None if row["failure_reason"] is None else FailureReason(row["failure_reason"]),
    )


def seat_from_row(row: Any, *, prefix: str = "") -> Seat:
    def get(name: str) -> Any:
        return row[f"{prefix}{name}"]

    return Seat(
        seat_id=str(get("seat_id")),
        group_id=str(get("group_id")),
        user_id=get("user_id"),
        leader=get("leader"),
        state=SeatState(get("state")),
        invite_code=get("invite_code"),
        inviter_user_id=get("inviter_user_id"),
        unit_price_minor=get("unit_price_minor"),
        shipping_city=get("shipping_city"),
        channel=get("channel"),
        order_id=get("order_id"),
        held_at=get("held_at"),
        pay_by=get("pay_by"),
        paid_at=get("paid_at"),
        release_reason=get("release_reason"),
    )
