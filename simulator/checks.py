"""The simulator's verdict, read from the databases as an operator's tool (ops/checks.py: no service reads
another's tables, and this is not a service) once the platform is idle:

- the invariants of groups, seats and stock that `make bench` checks too (ops.checks.INVARIANTS);
- the day's own: no SKU it stocked sold beyond its stock, every failed group refunded (on the whole
  platform: the groups an earlier run left to fail included), no order, seat, group or refund stuck past
  its time limits (the payment limit and its confirmation grace, libs.core.orders, plus a slack for the
  jobs' polling);
- reconciliation: each count analytics reports over the run's window equals the count in the order,
  groupbuy and membership tables over the same window.

Every check counts the rows that break it: zero passes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from pingou.analytics.v1 import analytics_pb2 as analytics

from libs.core import BusinessLine
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from ops.checks import INVARIANTS, MEANINGS, count_each

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
# How long past a limit a job may take to act on it: jobs poll every second or two, events follow.
SLACK = timedelta(seconds=60)
CLOSED_BEFORE = PAYMENT_CONFIRMATION_GRACE + SLACK  # a pay_by older than this can no longer hold anything


@dataclass(frozen=True)
class Check:
    name: str
    meaning: str
    violations: int
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.violations == 0


# --- the day's own invariants: (meaning, SQL counting the rows that break it, its arguments)

DAY_INVARIANTS: dict[str, tuple[str, str, tuple[timedelta, ...]]] = {
    "failed_group_not_refunded": (
        "every paid member of a failed group refunded (answered by the provider)",
        """SELECT count(*) FROM groupbuy_pingou.groups g
           JOIN order_pingou.orders o ON o.group_id = g.group_id::text
           WHERE g.state = 'failed' AND g.closed_at < now() - interval '30 seconds'
             AND o.paid_at IS NOT NULL AND o.state <> 'refunded'
             AND NOT EXISTS (SELECT 1 FROM order_pingou.refunds r WHERE r.order_id = o.order_id
                             AND r.state = 'requested' AND r.requested_at > now() - interval '30 seconds')""",
        (),
    ),
    "failed_group_order_live": (
        "no order of a failed group still waiting, paid or shipping",
        """SELECT count(*) FROM groupbuy_pingou.groups g
           JOIN order_pingou.orders o ON o.group_id = g.group_id::text
           WHERE g.state = 'failed' AND g.closed_at < now() - interval '30 seconds'
             AND o.state IN ('pending_payment', 'paid', 'awaiting_group', 'group_completed', 'shipped')""",
        (),
    ),
    "order_unpaid_past_limit": (
        "no order waiting for payment past its limit and the confirmation grace",
        """SELECT (SELECT count(*) FROM order_pingou.orders
                   WHERE state = 'pending_payment' AND pay_by < now() - $1::interval)
                + (SELECT count(*) FROM order_mall.orders
                   WHERE state = 'pending_payment' AND pay_by < now() - $1::interval)""",
        (CLOSED_BEFORE,),
    ),
    "seat_held_past_limit": (
        "no seat held unpaid past its limit and the confirmation grace",
        "SELECT count(*) FROM groupbuy_pingou.seats WHERE state = 'held' AND pay_by < now() - $1::interval",
        (CLOSED_BEFORE,),
    ),
    "group_open_past_window": (
        "no group open past its window once no seat may still be paid",
        """SELECT count(*) FROM groupbuy_pingou.groups g
           WHERE g.state = 'open' AND g.expires_at < now() - $2::interval
             AND NOT EXISTS (SELECT 1 FROM groupbuy_pingou.seats s WHERE s.group_id = g.group_id
                             AND s.state = 'held' AND s.pay_by >= now() - $1::interval)""",
        (CLOSED_BEFORE, SLACK),
    ),
    "order_awaiting_completed_group": (
        "no paid order still waiting for a group that completed",
        """SELECT count(*) FROM order_pingou.orders o
           JOIN groupbuy_pingou.groups g ON g.group_id::text = o.group_id
           WHERE g.state = 'completed' AND o.state = 'awaiting_group' AND g.closed_at < now() - $1::interval""",
        (SLACK,),
    ),
    "refund_unanswered": (
        "no refund left unanswered: the provider answered every one it was asked",
        """SELECT (SELECT count(*) FROM order_pingou.refunds
                   WHERE state = 'requested' AND requested_at < now() - $1::interval)
                + (SELECT count(*) FROM order_mall.refunds
                   WHERE state = 'requested' AND requested_at < now() - $1::interval)""",
        (SLACK,),
    ),
}


def _oversold(line: BusinessLine) -> str:
    """Units in the line's orders that hold or sold them, per SKU, beyond what was stocked. A cancelled
    order gave its unit back; on pingou a refunded one too (its group failed: the unit went back to the
    allotment); a mall refund after the sale does not restock."""
    gone = "('cancelled', 'refunding', 'refunded')" if line is PINGOU else "('cancelled')"
    schema = f"order_{line.value}"
    return f"""
        SELECT count(*) FROM (
            SELECT i.sku_id, sum(i.quantity) AS units FROM {schema}.order_items i
            JOIN {schema}.orders o USING (order_id)
            WHERE i.sku_id = ANY($1::text[]) AND o.state NOT IN {gone} GROUP BY i.sku_id) sold
        JOIN unnest($1::text[], $2::bigint[]) AS stocked(sku_id, units) USING (sku_id)
        WHERE sold.units > stocked.units"""


async def invariants(connection: asyncpg.Connection, stocked: Mapping[BusinessLine, Mapping[str, int]]) -> list[Check]:
    found = [Check(name, MEANINGS[name], count) for name, count in (await count_each(connection, INVARIANTS)).items()]
    for line, skus in stocked.items():
        count = await connection.fetchval(_oversold(line), list(skus), list(skus.values()))
        found.append(Check(f"{line.value}_oversold", f"no {line.value} SKU of the day sold beyond its stock", count))
    for name, (meaning, query, arguments) in DAY_INVARIANTS.items():
        found.append(Check(name, meaning, int(await connection.fetchval(query, *arguments))))
    return found


# --- reconciliation: analytics' counts against the services' own tables, over the report's window


def _counts(line: BusinessLine) -> dict[str, str]:
    orders = f"order_{line.value}"
    queries = {
        "orders": f"SELECT count(*) FROM {orders}.orders WHERE created_at >= $1 AND created_at < $2",
        "items": f"""SELECT coalesce(sum(i.quantity), 0) FROM {orders}.order_items i JOIN {orders}.orders o
                     USING (order_id) WHERE o.created_at >= $1 AND o.created_at < $2""",
        "ordering_users": f"""SELECT count(DISTINCT user_id) FROM {orders}.orders
                              WHERE created_at >= $1 AND created_at < $2""",
        "paying_users": f"SELECT count(DISTINCT user_id) FROM {orders}.orders WHERE paid_at >= $1 AND paid_at < $2",
        "gmv_minor": f"""SELECT coalesce(sum(total_minor), 0) FROM {orders}.orders
                         WHERE paid_at >= $1 AND paid_at < $2""",
        "memberships_sold": f"""SELECT count(*) FROM membership_{line.value}.payments
                                WHERE recorded_at >= $1 AND recorded_at < $2""",
    }  # schema names from the BusinessLine enum
    if line is PINGOU:
        queries |= {
            "groups_opened": "SELECT count(*) FROM groupbuy_pingou.groups WHERE opened_at >= $1 AND opened_at < $2",
            "groups_completed": """SELECT count(*) FROM groupbuy_pingou.groups
                                   WHERE state = 'completed' AND closed_at >= $1 AND closed_at < $2""",
            "groups_failed": """SELECT count(*) FROM groupbuy_pingou.groups
                                WHERE state = 'failed' AND closed_at >= $1 AND closed_at < $2""",
            "invites": """SELECT count(*) FROM groupbuy_pingou.seats
                          WHERE inviter_user_id IS NOT NULL AND held_at >= $1 AND held_at < $2""",
        }
    return queries


@dataclass(frozen=True)
class Reconciled:
    line: BusinessLine
    kpi: str
    analytics: int
    database: int


async def reconcile(
    connection: asyncpg.Connection, reports: Mapping[BusinessLine, analytics.KpiReport]
) -> list[Reconciled]:
    rows = []
    for line, report in reports.items():
        start, end = window_of(report)
        for kpi, query in _counts(line).items():
            counted = int(await connection.fetchval(query, start, end))
            rows.append(Reconciled(line, kpi, int(getattr(report.total, kpi)), counted))
    return rows


def window_of(report: analytics.KpiReport) -> tuple[datetime, datetime]:
    """The [from, to) the report covers (as analytics answered it)."""
    return getattr(report, "from").ToDatetime(tzinfo=UTC), report.to.ToDatetime(tzinfo=UTC)


def reconciliation_checks(rows: list[Reconciled]) -> list[Check]:
    return [
        Check(
            f"reconcile_{row.line.value}_{row.kpi}",
            f"analytics {row.kpi} of {row.line.value} equals the services' tables",
            abs(row.analytics - row.database),
            f"analytics {row.analytics}, tables {row.database}",
        )
        for row in rows
    ]
