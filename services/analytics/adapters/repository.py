"""PostgreSQL writes of analytics: the consumer's facts and the link lookups. One line's schema per
connection (its search_path); the identity links of both lines live in IDENTITY_SCHEMA.

The facts of a polled batch of events are written together: one statement per kind of fact, its rows
passed as arrays (unnest), whatever the number of events. Facts are only ever inserted, keyed by what they
are about (ON CONFLICT DO NOTHING), so a fact cannot be counted twice; what depends on a fact being new
(the order counters, the first-seen rows of users, a user's first payment) is written in the same
statement from the rows the insert returned. Buckets are `date_trunc(<level>, at, 'Asia/Shanghai')`, as the
KPI queries read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from libs.core import BusinessLine
from libs.core.ids import USER_ID_PREFIX, user_number
from libs.jobs import not_set_aside
from services.analytics.domain.facts import (
    GroupOpened,
    GroupOutcome,
    MembershipSale,
    Payment,
    PlacedOrder,
    Refund,
    SeatTaken,
)

IDENTITY_SCHEMA = "analytics_identity"


def _seen_in(table: str, column: str) -> str:
    """Each row of `table` three times: with its minute, hour and day (Beijing time) as `seen`."""
    levels = ", ".join(f"('{level}', date_trunc('{level}', {table}.{column}, 'Asia/Shanghai'))"
                       for level in ("minute", "hour", "day"))  # fmt: skip
    return f"{table} CROSS JOIN LATERAL (VALUES {levels}) AS seen(level, bucket)"


# New orders are counted per minute and channel in the row of this consumer's partition ($8): a partition has
# one consumer at a time, so no two consumers wait for one counter. Each new order's user is seen in its
# minute, hour and day, with a bit for the city tier it ships to (1 << tier).
_PLACED_ORDERS = f"""WITH placed AS (
    INSERT INTO placed_orders (order_id, user_number, placed_at, items, total_minor, channel, city_tier)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::integer[], $5::bigint[], $6::text[],
                         $7::smallint[])
    ON CONFLICT (order_id) DO NOTHING
    RETURNING user_number, placed_at, items, channel, city_tier
), counted AS (
    INSERT INTO order_counts AS c (minute, partition, channel, orders, items)
    SELECT date_trunc('minute', placed_at, 'Asia/Shanghai'), $8, channel, count(*), sum(items)
    FROM placed GROUP BY 1, 3
    ON CONFLICT (minute, partition, channel)
    DO UPDATE SET orders = c.orders + excluded.orders, items = c.items + excluded.items
)
INSERT INTO ordering_users AS u (level, bucket, user_number, tiers)
SELECT seen.level, seen.bucket, placed.user_number, bit_or(1 << placed.city_tier)
FROM {_seen_in("placed", "placed_at")} GROUP BY 1, 2, 3
ON CONFLICT (level, bucket, user_number) DO UPDATE SET tiers = u.tiers | excluded.tiers
WHERE u.tiers | excluded.tiers <> u.tiers"""

# New payments: their payers seen in their minute, hour and day with what they paid (GMV), and each payer's
# first payment moved earlier when one of these is (one user's orders come through different partitions, so
# not necessarily in time order); then their identity links are looked up. $5: the line's user id prefix.
_PAYMENTS = f"""WITH paid AS (
    INSERT INTO payments (order_id, user_number, paid_at, amount_minor)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[])
    ON CONFLICT (order_id) DO NOTHING
    RETURNING user_number, paid_at, amount_minor
), paying AS (
    INSERT INTO paying_users AS p (level, bucket, user_number, amount_minor)
    SELECT seen.level, seen.bucket, paid.user_number, sum(paid.amount_minor)
    FROM {_seen_in("paid", "paid_at")} GROUP BY 1, 2, 3
    ON CONFLICT (level, bucket, user_number) DO UPDATE SET amount_minor = p.amount_minor + excluded.amount_minor
), first AS (
    INSERT INTO first_payments AS f (user_id, paid_at)
    SELECT $5 || user_number, min(paid_at) FROM paid GROUP BY user_number
    ON CONFLICT (user_id) DO UPDATE SET paid_at = excluded.paid_at WHERE f.paid_at > excluded.paid_at
    RETURNING user_id
)
INSERT INTO link_lookups (user_id) SELECT user_id FROM first
ON CONFLICT (user_id) DO UPDATE SET wanted_at = now()"""

# DO UPDATE rather than DO NOTHING: a lookup being made right now (its row locked by the job) may have
# asked before this change; waiting for it and writing the row anew makes sure it is asked again.
_LINK_LOOKUPS = """INSERT INTO link_lookups (user_id) SELECT DISTINCT unnest($1::text[])
ON CONFLICT (user_id) DO UPDATE SET wanted_at = now()"""

_REFUNDS = """INSERT INTO refunds (order_id, user_id, refunded_at, amount_minor)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) ON CONFLICT (order_id) DO NOTHING"""

_GROUPS_OPENED = """INSERT INTO groups_opened (group_id, opened_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (group_id) DO NOTHING"""

# A group completes or fails once: whichever outcome is recorded first stays.
_GROUP_OUTCOMES = """INSERT INTO group_outcomes (group_id, outcome, decided_at, opened_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
ON CONFLICT (group_id) DO NOTHING"""

_INVITES = """INSERT INTO invites (seat_id, group_id, user_id, inviter_user_id, held_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT (seat_id) DO NOTHING"""

_MEMBERSHIP_SALES = """INSERT INTO memberships_sold (payment_reference, user_id, plan, renewal, sold_at, amount_minor)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[], $6::bigint[])
ON CONFLICT (payment_reference) DO NOTHING"""

_APPLIED = """INSERT INTO events_applied AS a (topic, partition, events, last_applied_at)
SELECT *, now() FROM unnest($1::text[], $2::integer[], $3::bigint[])
ON CONFLICT (topic, partition) DO UPDATE SET events = a.events + excluded.events, last_applied_at = now()"""


class FactsRepository:
    """The facts of a batch of one line's events, consumed from `partition`, on the consumer's transaction."""

    def __init__(self, connection: asyncpg.Connection, *, line: BusinessLine, partition: int):
        self._db = connection
        self._line = line
        self._partition = partition

    async def add_placed_orders(self, orders: Sequence[PlacedOrder]) -> None:
        await self._db.execute(
            _PLACED_ORDERS,
            [order.order_id for order in orders],
            [user_number(order.user_id) for order in orders],
            [order.placed_at for order in orders],
            [order.items for order in orders],
            [order.total_minor for order in orders],
            [order.channel.value for order in orders],
            [order.city_tier for order in orders],
            self._partition,
        )

    async def add_payments(self, payments: Sequence[Payment]) -> None:
        await self._db.execute(
            _PAYMENTS,
            [payment.order_id for payment in payments],
            [user_number(payment.user_id) for payment in payments],
            [payment.paid_at for payment in payments],
            [payment.amount_minor for payment in payments],
            USER_ID_PREFIX[self._line],
        )

    async def add_refunds(self, refunds: Sequence[Refund]) -> None:
        await self._db.execute(
            _REFUNDS,
            [refund.order_id for refund in refunds],
            [refund.user_id for refund in refunds],
            [refund.refunded_at for refund in refunds],
            [refund.amount_minor for refund in refunds],
        )

    async def add_groups_opened(self, groups: Sequence[GroupOpened]) -> None:
        await self._db.execute(
            _GROUPS_OPENED, [group.group_id for group in groups], [group.opened_at for group in groups]
        )

    async def add_group_outcomes(self, outcomes: Sequence[GroupOutcome]) -> None:
        await self._db.execute(
            _GROUP_OUTCOMES,
            [outcome.group_id for outcome in outcomes],
            ["completed" if outcome.completed else "failed" for outcome in outcomes],
            [outcome.decided_at for outcome in outcomes],
            [outcome.opened_at for outcome in outcomes],
        )

    async def add_invites(self, seats: Sequence[SeatTaken]) -> None:
        await self._db.execute(
            _INVITES,
            [seat.seat_id for seat in seats],
            [seat.group_id for seat in seats],
            [seat.user_id for seat in seats],
            [seat.inviter_user_id for seat in seats],
            [seat.held_at for seat in seats],
        )

    async def add_membership_sales(self, sales: Sequence[MembershipSale]) -> None:
        await self._db.execute(
            _MEMBERSHIP_SALES,
            [sale.payment_reference for sale in sales],
            [sale.user_id for sale in sales],
            [sale.plan for sale in sales],
            [sale.renewal for sale in sales],
            [sale.sold_at for sale in sales],
            [sale.amount_minor for sale in sales],
        )

    async def want_link_lookups(self, user_ids: Sequence[str]) -> None:
        await self._db.execute(_LINK_LOOKUPS, list(user_ids))

    async def count_applied(self, events: Mapping[tuple[str, int], int]) -> None:
        """Events applied, per (topic, partition): the consumer's progress (GetConsumerStatus)."""
        places = list(events.items())
        await self._db.execute(
            _APPLIED, [topic for (topic, _), _ in places], [part for (_, part), _ in places], [n for _, n in places]
        )


class LinkLookupsRepository:
    """The link lookups waiting in one line's schema, and the links they find, on the job's transaction."""

    def __init__(self, connection: asyncpg.Connection):
        self._db = connection

    async def claim(self, *, job: str, limit: int) -> list[str]:
        """Waiting lookups, oldest first, locked; SKIP LOCKED gives concurrent jobs disjoint batches, and a
        lookup the job set aside is skipped."""
        rows = await self._db.fetch(
            f"""SELECT user_id FROM link_lookups WHERE {not_set_aside("user_id", job_param="$2")}
            ORDER BY wanted_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
            job,
        )
        return [row["user_id"] for row in rows]

    async def add_links(self, user_id: str, linked: Sequence[str]) -> None:
        others = list(linked)
        await self._db.execute(
            f"""INSERT INTO {IDENTITY_SCHEMA}.account_links (user_id, linked_user_id)
            SELECT pair.user_id, pair.linked_user_id
            FROM unnest($1::text[] || $2::text[], $2::text[] || $1::text[]) AS pair(user_id, linked_user_id)
            ON CONFLICT DO NOTHING""",
            [user_id] * len(others),
            others,
        )

    async def done(self, user_id: str) -> None:
        await self._db.execute("DELETE FROM link_lookups WHERE user_id = $1", user_id)
