"""What the tools read from a running platform's databases, as an operator would (no service reads another's
tables; this is not a service): whether the platform is idle (every event reached every consumer), and the
invariants of groups, seats and stock that concurrency could break (a group within its size, a user once in a
group, stock never below zero: `MEANINGS` lists them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import asyncpg

# Each query counts the rows that break one invariant; zero is the only good answer.
INVARIANTS: dict[str, str] = {
    "group_over_size": "SELECT count(*) FROM groupbuy_pingou.groups WHERE seats_taken > size",
    "group_count_drift": """
        SELECT count(*) FROM groupbuy_pingou.groups g
        LEFT JOIN (SELECT group_id, count(*) AS n FROM groupbuy_pingou.seats WHERE state <> 'released'
                   GROUP BY group_id) c USING (group_id)
        WHERE g.state = 'open' AND g.seats_taken <> coalesce(c.n, 0)""",
    "seats_over_size": """
        SELECT count(*) FROM (SELECT s.group_id FROM groupbuy_pingou.seats s
            JOIN groupbuy_pingou.groups g USING (group_id)
            WHERE s.state <> 'released' GROUP BY s.group_id, g.size HAVING count(*) > g.size) over_size""",
    "user_twice_in_group": """
        SELECT count(*) FROM (SELECT 1 FROM groupbuy_pingou.seats WHERE state <> 'released'
            GROUP BY group_id, user_id HAVING count(*) > 1) twice""",
    "completed_not_full": """
        SELECT count(*) FROM groupbuy_pingou.groups WHERE state = 'completed' AND seats_paid <> size""",
    "stock_below_zero": """SELECT (SELECT count(*) FROM catalog_pingou.stock WHERE available < 0)
        + (SELECT count(*) FROM catalog_mall.stock WHERE available < 0)
        + (SELECT count(*) FROM groupbuy_pingou.allotments WHERE available < 0)""",
    "held_seat_without_one_order": """
        SELECT count(*) FROM groupbuy_pingou.seats s
        LEFT JOIN (SELECT seat_id, count(*) AS n FROM order_pingou.orders WHERE state = 'pending_payment'
                   GROUP BY seat_id) o ON o.seat_id = s.seat_id::text
        WHERE s.state = 'held' AND coalesce(o.n, 0) <> 1""",
    # A seat's unit of stock is in the seat itself (taken from groupbuy's allotment in its statement);
    # seats from before allotments had a catalog reservation for their order instead.
    "held_seat_without_stock": """
        SELECT count(*) FROM groupbuy_pingou.seats s
        LEFT JOIN (SELECT o.seat_id, count(*) AS n FROM order_pingou.orders o
                   JOIN catalog_pingou.reservations r ON r.order_id = o.order_id AND r.state = 'reserved'
                   GROUP BY o.seat_id) reserved ON reserved.seat_id = s.seat_id::text
        WHERE s.state = 'held' AND s.stock_bucket IS NULL AND coalesce(reserved.n, 0) <> 1""",
    # Every unit catalog leased to groupbuy is in its allotment, in a seat (held, paid, or sold with its
    # completed group), and nowhere else: none lost, none made up. A failed group's seats gave theirs back.
    "leased_stock_not_accounted": """
        SELECT count(*) FROM catalog_pingou.stock_leases l
        LEFT JOIN (SELECT sku_id, sum(available) AS n FROM groupbuy_pingou.allotments GROUP BY sku_id) a
            USING (sku_id)
        LEFT JOIN (SELECT g.sku_id, count(*) AS n FROM groupbuy_pingou.seats s
                   JOIN groupbuy_pingou.groups g USING (group_id)
                   WHERE s.stock_bucket IS NOT NULL AND s.state <> 'released' AND g.state <> 'failed'
                   GROUP BY g.sku_id) held USING (sku_id)
        WHERE l.leased <> coalesce(a.n, 0) + coalesce(held.n, 0)""",
    "seat_order_id_unknown": "SELECT count(*) FROM groupbuy_pingou.seats WHERE state = 'held' AND order_id IS NULL",
}


# What each invariant means, for the tables that print them.
MEANINGS: dict[str, str] = {
    "group_over_size": "no group counts more seats than its size",
    "group_count_drift": "an open group's seat count is its seats",
    "seats_over_size": "no group holds more seats than its size",
    "user_twice_in_group": "no user twice in a group",
    "completed_not_full": "a completed group has exactly its size in paid seats",
    "stock_below_zero": "no stock and no allotment below zero",
    "held_seat_without_one_order": "every held seat has one order waiting for its payment",
    "held_seat_without_stock": "every held seat holds its unit of stock",
    "leased_stock_not_accounted": "every unit leased to groupbuy is in its allotment or in a seat",
    "seat_order_id_unknown": "every held seat names its order",
}


async def connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url)


async def schemas_with(connection: asyncpg.Connection, table: str, *, prefix: str = "") -> list[str]:
    """The schemas that hold `table` (and whose names start with `prefix`), from the database's own catalog:
    the names are safe to put in a statement."""
    rows = await connection.fetch(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = $1 AND starts_with(table_schema, $2)"
        " ORDER BY 1",
        table,
        prefix,
    )
    return [row["table_schema"] for row in rows]


async def event_schemas(connection: asyncpg.Connection) -> list[str]:
    """Schemas with an outbox (publishers) or an inbox (consumers) of libs/events."""
    rows = await connection.fetch(
        "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name IN ('outbox', 'inbox') ORDER BY 1"
    )
    return [row["table_schema"] for row in rows]


async def _backlog(connection: asyncpg.Connection, schemas: Sequence[str]) -> tuple[int, int]:
    waiting = handled = 0
    for schema in schemas:
        tables = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        }
        # Schema names come from the database's own catalog, never from input.
        if "outbox" in tables:
            waiting += await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE parked_at IS NULL")  # noqa: S608
        if "inbox" in tables:
            handled += await connection.fetchval(f"SELECT count(*) FROM {schema}.inbox")  # noqa: S608
    return waiting, handled


async def wait_until_idle(database_url: str, *, at_most: float = 120.0, settle: float = 3.0) -> float:
    """Seconds until every outbox is empty and no consumer has handled anything new for `settle`
    seconds (every event reached every consumer), or `at_most`."""
    started = time.monotonic()
    connection = await connect(database_url)
    try:
        schemas = await event_schemas(connection)
        last_handled, quiet_since = -1, time.monotonic()
        while time.monotonic() - started < at_most:
            waiting, handled = await _backlog(connection, schemas)
            if handled != last_handled or waiting:
                last_handled, quiet_since = handled, time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return quiet_since - started
            await asyncio.sleep(0.5)
        return time.monotonic() - started
    finally:
        await connection.close()


async def count_each(connection: asyncpg.Connection, queries: dict[str, str]) -> dict[str, int]:
    return {name: int(await connection.fetchval(query)) for name, query in queries.items()}


async def invariant_violations(database_url: str) -> dict[str, int]:
    connection = await connect(database_url)
    try:
        return await count_each(connection, INVARIANTS)
    finally:
        await connection.close()
