"""PostgreSQL reads of analytics: a line's KPIs over a window, from one snapshot (a read-only REPEATABLE
READ transaction), and the consumer's progress.

Each query reads one table over the window's range of an index, bucket by bucket; a report's total is the
sum of its buckets (domain.model.Kpis.add) but for distinct users: those are counted from the first-seen
rows of the coarsest level that tiles the window (`Window.covering`), so a user seen in two buckets counts
once, and a whole day's users are that day's rows. Facts are bucketed with `date_trunc(<granularity>, at,
'Asia/Shanghai')`, Beijing time's minutes, hours and days, as domain.model.bucket_start buckets the
first-seen rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from libs.core import BusinessLine
from libs.database import schema_name
from services.analytics.adapters.repository import IDENTITY_SCHEMA
from services.analytics.domain.model import LOWER_TIERS, TIERS, Channel, Kpis, Window

# Hash tables of a day's users stay in memory; plans are simple enough that JIT compiling costs more.
_READ_SETTINGS = ("SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off")


def _bucketed(table: str, column: str, *columns: str) -> str:
    """The window's facts ($1 <= column < $2), each with its bucket ($3: the granularity)."""
    selected = ", ".join((f"date_trunc($3, {column}, 'Asia/Shanghai') AS bucket", *columns))
    return f"SELECT {selected} FROM {table} WHERE {column} >= $1 AND {column} < $2"


# A window is whole minutes at least, so the minute counters tile it.
_ORDERS = f"""SELECT bucket, channel, sum(orders) AS orders, sum(items) AS items
FROM ({_bucketed("order_counts", "minute", "channel", "orders", "items")}) counted GROUP BY bucket, channel"""

_TIER_COUNTS = ", ".join(f"count(*) FILTER (WHERE tiers & {1 << tier} <> 0) AS tier_{tier}" for tier in TIERS)
_LOWER_TIERS = f"count(*) FILTER (WHERE tiers & {sum(1 << tier for tier in LOWER_TIERS)} <> 0) AS lower_tiers"
_SEEN = "level = $3 AND bucket >= $1 AND bucket < $2"  # the first-seen rows of one level in the window

_ORDERING_USERS = f"""SELECT bucket, count(*) AS users, {_TIER_COUNTS}, {_LOWER_TIERS}
FROM ordering_users WHERE {_SEEN} GROUP BY bucket"""
# Over a window of one bucket of the level, its rows are distinct users already; over more, each user once.
_ORDERING_USERS_IN_ONE = f"SELECT count(*) AS users, {_TIER_COUNTS}, {_LOWER_TIERS} FROM ordering_users WHERE {_SEEN}"
_ORDERING_USERS_OVER = f"""SELECT count(*) AS users, {_TIER_COUNTS}, {_LOWER_TIERS} FROM (
    SELECT user_number, bit_or(tiers) AS tiers FROM ordering_users WHERE {_SEEN} GROUP BY user_number) users"""

_PAYING_USERS = f"""SELECT bucket, count(*) AS users, sum(amount_minor) AS gmv
FROM paying_users WHERE {_SEEN} GROUP BY bucket"""
_PAYING_USERS_IN_ONE = f"SELECT count(*) FROM paying_users WHERE {_SEEN}"
_PAYING_USERS_OVER = f"SELECT count(DISTINCT user_number) FROM paying_users WHERE {_SEEN}"


def _new_to_company(line: BusinessLine) -> str:
    """Users whose first payment is in the window and earlier than that of every account linked to them,
    on either line (ties broken by the account id, so exactly one account of a person is the first)."""
    first_payments = " UNION ALL ".join(
        f"SELECT user_id, paid_at FROM {schema_name('analytics', other)}.first_payments" for other in BusinessLine
    )
    return f"""SELECT bucket, count(*) AS users
    FROM ({_bucketed("first_payments", "paid_at", "user_id", "paid_at")}) f
    WHERE NOT EXISTS (
        SELECT 1 FROM {IDENTITY_SCHEMA}.account_links l
        JOIN ({first_payments}) earlier ON earlier.user_id = l.linked_user_id
        WHERE l.user_id = f.user_id AND (earlier.paid_at, earlier.user_id) < (f.paid_at, f.user_id))
    GROUP BY bucket"""


_GROUPS_OPENED = f"""SELECT bucket, count(*) AS opened
FROM ({_bucketed("groups_opened", "opened_at")}) opened GROUP BY bucket"""

_GROUP_OUTCOMES = f"""SELECT bucket,
    count(*) FILTER (WHERE outcome = 'completed') AS completed,
    count(*) FILTER (WHERE outcome = 'failed') AS failed,
    coalesce(sum(extract(epoch FROM decided_at - opened_at)) FILTER (WHERE outcome = 'completed'), 0) AS seconds,
    count(opened_at) FILTER (WHERE outcome = 'completed') AS timed
FROM ({_bucketed("group_outcomes", "decided_at", "outcome", "decided_at", "opened_at")}) decided GROUP BY bucket"""

_INVITES = f"""SELECT bucket, count(*) AS invites
FROM ({_bucketed("invites", "held_at")}) invited GROUP BY bucket"""

_MEMBERSHIPS = f"""SELECT bucket, count(*) AS sold
FROM ({_bucketed("memberships_sold", "sold_at")}) sold GROUP BY bucket"""

_REFUNDS = f"""SELECT bucket, count(*) AS refunds, sum(amount_minor) AS amount
FROM ({_bucketed("refunds", "refunded_at", "amount_minor")}) refunded GROUP BY bucket"""

_APPLIED = "SELECT coalesce(sum(events), 0) AS events, max(last_applied_at) AS last FROM events_applied"


def _ordering_users(kpis: Kpis, row: Any) -> None:
    kpis.ordering_users = row["users"]
    kpis.ordering_users_by_tier = {tier: row[f"tier_{tier}"] for tier in TIERS if row[f"tier_{tier}"]}
    kpis.ordering_users_lower_tiers = row["lower_tiers"]


class KpiQueries:
    """Reads one line's facts through the line's pool."""

    def __init__(self, pool: asyncpg.Pool, line: BusinessLine):
        self._pool = pool
        self._new_to_company = _new_to_company(line)

    async def kpis(self, window: Window) -> tuple[dict[datetime, Kpis], Kpis]:
        buckets: dict[datetime, Kpis] = {}
        arguments = (window.start, window.end, window.granularity.value)

        def rows_of(rows: list[Any]) -> list[tuple[Kpis, Any]]:
            return [(buckets.setdefault(row["bucket"], Kpis()), row) for row in rows]

        async with self._pool.acquire() as connection, connection.transaction(isolation="repeatable_read",
                                                                             readonly=True):  # fmt: skip
            for setting in _READ_SETTINGS:
                await connection.execute(setting)
            for kpis, row in rows_of(await connection.fetch(_ORDERS, *arguments)):
                orders = int(row["orders"])
                kpis.orders += orders
                kpis.items += int(row["items"])
                kpis.orders_by_channel[Channel(row["channel"])] = orders
            for kpis, row in rows_of(await connection.fetch(_ORDERING_USERS, *arguments)):
                _ordering_users(kpis, row)
            for kpis, row in rows_of(await connection.fetch(_PAYING_USERS, *arguments)):
                kpis.paying_users, kpis.gmv_minor = row["users"], int(row["gmv"])
            for kpis, row in rows_of(await connection.fetch(self._new_to_company, *arguments)):
                kpis.new_to_company_users = row["users"]
            for kpis, row in rows_of(await connection.fetch(_GROUPS_OPENED, *arguments)):
                kpis.groups_opened = row["opened"]
            for kpis, row in rows_of(await connection.fetch(_GROUP_OUTCOMES, *arguments)):
                kpis.groups_completed, kpis.groups_failed = row["completed"], row["failed"]
                kpis.completion_seconds, kpis.timed_completions = float(row["seconds"]), row["timed"]
            for kpis, row in rows_of(await connection.fetch(_INVITES, *arguments)):
                kpis.invites = row["invites"]
            for kpis, row in rows_of(await connection.fetch(_MEMBERSHIPS, *arguments)):
                kpis.memberships_sold = row["sold"]
            for kpis, row in rows_of(await connection.fetch(_REFUNDS, *arguments)):
                kpis.refunds, kpis.refunded_minor = row["refunds"], int(row["amount"])
            total = await self._distinct_over(connection, window)
        for kpis in buckets.values():
            total.add(kpis)
        return buckets, total

    async def _distinct_over(self, connection: asyncpg.Connection, window: Window) -> Kpis:
        """The window's distinct users, from the first-seen rows of the level that tiles it."""
        total = Kpis()
        level, one_bucket = window.covering()
        arguments = (window.start, window.end, level.value)
        orderers, payers = (_ORDERING_USERS_IN_ONE, _PAYING_USERS_IN_ONE) if one_bucket else (
            _ORDERING_USERS_OVER, _PAYING_USERS_OVER)  # fmt: skip
        _ordering_users(total, await connection.fetchrow(orderers, *arguments))
        total.paying_users = await connection.fetchval(payers, *arguments)
        return total

    async def applied(self) -> tuple[int, datetime | None]:
        row = await self._pool.fetchrow(_APPLIED)
        return int(row["events"]), row["last"]
