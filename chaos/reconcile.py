"""Did every committed event reach every consumer, and did its effect happen exactly once? Each consumer's
count of an effect beside the count of its source rows, read from the databases as an operator would
(no service reads another's tables; this is a tool): analytics' KPIs (simulator.checks.reconcile),
segmentation's profiles (each paid order counted once in its buyer's order_count) and groupbuy's copy of
the registry (each pingou account registered once). A consumer count below its source is a lost effect,
above it a doubled one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.core import BusinessLine
from ops.checks import connect, schemas_with
from simulator.checks import Reconciled


@dataclass(frozen=True)
class Effect:
    line: str
    effect: str
    consumer: str
    consumer_count: int
    source_count: int

    @property
    def counts_events(self) -> bool:
        """A count of things that happened (orders, groups, users); not a sum of money (`*_minor`)."""
        return not self.effect.endswith("_minor")

    @property
    def lost(self) -> int:
        return max(0, self.source_count - self.consumer_count) if self.counts_events else 0

    @property
    def doubled(self) -> int:
        return max(0, self.consumer_count - self.source_count) if self.counts_events else 0


def from_analytics(rows: Iterable[Reconciled]) -> list[Effect]:
    return [Effect(row.line.value, row.kpi, "analytics", row.analytics, row.database) for row in rows]


def _paid_orders(line: BusinessLine) -> tuple[str, str]:
    """(segmentation's count, the order service's) of paid orders by the buyers registered since $1."""
    users, orders = f"segmentation_{line.value}.users", f"order_{line.value}.orders"
    # Schema names from the BusinessLine enum.
    return (
        f"SELECT coalesce(sum(order_count), 0) FROM {users} WHERE registered_at >= $1",  # noqa: S608
        f"""SELECT count(*) FROM {orders} o JOIN {users} u USING (user_id)
            WHERE u.registered_at >= $1 AND o.paid_at IS NOT NULL""",  # noqa: S608
    )


REGISTERED = (
    "SELECT count(*) FROM groupbuy_pingou.registered_accounts WHERE registered_at >= $1",
    "SELECT count(*) FROM segmentation_pingou.users WHERE registered_at >= $1",
)


async def effects(connection: asyncpg.Connection, *, since: datetime) -> list[Effect]:
    found = []
    for line in BusinessLine:
        consumer, source = _paid_orders(line)
        found.append(
            Effect(
                line.value,
                "paid_orders_in_profiles",
                "segmentation",
                int(await connection.fetchval(consumer, since)),
                int(await connection.fetchval(source, since)),
            )
        )
    consumer, source = REGISTERED
    found.append(
        Effect(
            BusinessLine.PINGOU.value,
            "registered_accounts",
            "groupbuy",
            int(await connection.fetchval(consumer, since)),
            int(await connection.fetchval(source, since)),
        )
    )
    return found


async def set_aside(database_url: str) -> int:
    """Outbox rows set aside (parked) and job rows set aside, over every schema."""
    connection = await connect(database_url)
    try:
        total = 0
        for table, condition in (("outbox", "parked_at IS NOT NULL"), ("job_set_aside", "true")):
            for schema in await schemas_with(connection, table):
                total += await connection.fetchval(f"SELECT count(*) FROM {schema}.{table} WHERE {condition}")  # noqa: S608
        return int(total)
    finally:
        await connection.close()
