"""PostgreSQL access for the catalog. Connections come from a line's pool (search_path = that line's
schema); the shared product tables are named by their schema, `catalog`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import asyncpg

from libs.core import BusinessLine
from libs.jobs import not_set_aside
from services.catalog.domain.model import (
    STOCK_BUCKETS,
    GroupRule,
    LeaseKind,
    Listing,
    Prices,
    Product,
    Reservation,
    ReservationItem,
    ReservationState,
    Sku,
    StockLease,
    StockLevel,
)

SHARED = "catalog"
_LISTING_COLUMNS = """sku_id, product_id, title, category_id, belt_id, factory_direct, image_url, price_minor,
    plus_price_minor, group_price_minor, leader_price_minor, group_rule, active, version, updated_at,
    display_price_minor"""


class CatalogRepository:
    def __init__(self, connection: asyncpg.Connection, line: BusinessLine):
        self._db = connection
        self.line = line

    # --- reference data and products (shared by both lines)

    async def belts(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._db.fetch(f"SELECT * FROM {SHARED}.belts ORDER BY belt_id")
        return rows

    async def categories(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._db.fetch(f"SELECT * FROM {SHARED}.categories ORDER BY category_id")
        return rows

    async def merchants(self, *, belt_id: str, after: str | None, limit: int) -> list[asyncpg.Record]:
        """Merchants in id order (of one belt unless `belt_id` is empty), from just after `after`."""
        rows: list[asyncpg.Record] = await self._db.fetch(
            f"""SELECT merchant_id, name, belt_id, factory_direct FROM {SHARED}.merchants
            WHERE ($1 = '' OR belt_id = $1) AND ($2::text IS NULL OR merchant_id > $2)
            ORDER BY merchant_id LIMIT $3""",
            belt_id,
            after,
            limit,
        )
        return rows

    async def merchant_exists(self, merchant_id: str) -> bool:
        return bool(await self._db.fetchval(f"SELECT true FROM {SHARED}.merchants WHERE merchant_id = $1", merchant_id))

    async def reference_exists(self, table: str, key: str, value: str) -> bool:
        assert (table, key) in (("belts", "belt_id"), ("categories", "category_id"))
        return bool(await self._db.fetchval(f"SELECT true FROM {SHARED}.{table} WHERE {key} = $1", value))

    async def add_product(self, product: Product) -> None:
        await self._db.execute(
            f"""INSERT INTO {SHARED}.products (product_id, merchant_id, category_id, belt_id, factory_direct, title,
                description, image_urls, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
            product.product_id,
            product.merchant_id,
            product.category_id,
            product.belt_id,
            product.factory_direct,
            product.title,
            product.description,
            list(product.image_urls),
            json.dumps(product.attributes, ensure_ascii=False),
        )
        await self._db.executemany(
            f"""INSERT INTO {SHARED}.skus (sku_id, product_id, title, attributes, image_url)
            VALUES ($1, $2, $3, $4::jsonb, $5)""",
            [
                (
                    sku.sku_id,
                    product.product_id,
                    sku.title,
                    json.dumps(sku.attributes, ensure_ascii=False),
                    sku.image_url,
                )
                for sku in product.skus
            ],
        )

    async def products(self, product_ids: Sequence[str]) -> list[Product]:
        rows = await self._db.fetch(
            f"SELECT * FROM {SHARED}.products WHERE product_id = ANY($1::text[]) ORDER BY product_id", list(product_ids)
        )
        skus = await self._db.fetch(
            f"SELECT * FROM {SHARED}.skus WHERE product_id = ANY($1::text[]) ORDER BY sku_id", list(product_ids)
        )
        by_product: dict[str, list[Sku]] = {}
        for row in skus:
            by_product.setdefault(row["product_id"], []).append(
                Sku(row["sku_id"], row["product_id"], row["title"], json.loads(row["attributes"]), row["image_url"])
            )
        return [
            Product(
                product_id=row["product_id"],
                merchant_id=row["merchant_id"],
                category_id=row["category_id"],
                belt_id=row["belt_id"],
                factory_direct=row["factory_direct"],
                title=row["title"],
                description=row["description"],
                image_urls=tuple(row["image_urls"]),
                attributes=json.loads(row["attributes"]),
                skus=tuple(by_product.get(row["product_id"], ())),
            )
            for row in rows
        ]

    async def sku_with_product(self, sku_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._db.fetchrow(
            f"""SELECT s.sku_id, s.title AS sku_title, s.image_url, p.product_id, p.merchant_id, p.title,
                p.category_id, p.belt_id, p.factory_direct, p.image_urls
            FROM {SHARED}.skus s JOIN {SHARED}.products p USING (product_id) WHERE s.sku_id = $1""",
            sku_id,
        )
        return row

    # --- listings (this line)

    async def upsert_listing(self, sku: asyncpg.Record, prices: Prices) -> Listing:
        image = sku["image_url"] or (sku["image_urls"][0] if sku["image_urls"] else "")
        row = await self._db.fetchrow(
            f"""INSERT INTO listings AS l (sku_id, product_id, title, category_id, belt_id, factory_direct, image_url,
                price_minor, plus_price_minor, group_price_minor, leader_price_minor, group_rule)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)
            ON CONFLICT (sku_id) DO UPDATE SET price_minor = excluded.price_minor,
                plus_price_minor = excluded.plus_price_minor, group_price_minor = excluded.group_price_minor,
                leader_price_minor = excluded.leader_price_minor, group_rule = excluded.group_rule,
                title = excluded.title, image_url = excluded.image_url, active = true,
                version = l.version + 1, updated_at = now()
            RETURNING {_LISTING_COLUMNS}""",
            sku["sku_id"],
            sku["product_id"],
            f"{sku['title']} {sku['sku_title']}".strip(),
            sku["category_id"],
            sku["belt_id"],
            sku["factory_direct"],
            image,
            prices.price_minor,
            prices.plus_price_minor,
            prices.group_price_minor,
            prices.leader_price_minor,
            None if prices.group_rule is None else json.dumps(asdict(prices.group_rule)),
        )
        return self._listing(row)

    async def deactivate_listing(self, sku_id: str) -> Listing | None:
        row = await self._db.fetchrow(
            f"""UPDATE listings SET active = false, version = version + 1, updated_at = now()
            WHERE sku_id = $1 RETURNING {_LISTING_COLUMNS}""",
            sku_id,
        )
        return None if row is None else self._listing(row)

    async def listings(self, sku_ids: Sequence[str]) -> list[Listing]:
        rows = await self._db.fetch(
            f"SELECT {_LISTING_COLUMNS} FROM listings WHERE sku_id = ANY($1::text[]) ORDER BY sku_id", list(sku_ids)
        )
        return [self._listing(row) for row in rows]

    async def search(
        self,
        *,
        query: str,
        category_id: str,
        belt_id: str,
        factory_direct: bool | None,
        min_price: int,
        max_price: int,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[Listing]:
        """Active listings in (display price, sku id) order, from just after `after`."""
        rows = await self._db.fetch(
            f"""SELECT {_LISTING_COLUMNS} FROM listings
            WHERE active
              AND ($1 = '' OR title ILIKE '%' || $1 || '%')
              AND ($2 = '' OR category_id = $2 OR category_id IN (
                    SELECT category_id FROM {SHARED}.categories WHERE parent_id = $2))
              AND ($3 = '' OR belt_id = $3)
              AND ($4::boolean IS NULL OR factory_direct = $4)
              AND display_price_minor >= $5
              AND ($6 = 0 OR display_price_minor <= $6)
              AND ($7::bigint IS NULL OR (display_price_minor, sku_id) > ($7, $8))
            ORDER BY display_price_minor, sku_id
            LIMIT $9""",
            _escape_like(query),
            category_id,
            belt_id,
            factory_direct,
            min_price,
            max_price,
            None if after is None else after[0],
            "" if after is None else after[1],
            limit,
        )
        return [self._listing(row) for row in rows]

    async def unlisted(self, sku_ids: Sequence[str]) -> list[str]:
        """Those of `sku_ids` that have no active listing on this line (they cannot be sold here)."""
        rows = await self._db.fetch(
            """SELECT wanted FROM unnest($1::text[]) AS wanted
            WHERE NOT EXISTS (SELECT 1 FROM listings WHERE sku_id = wanted AND active)""",
            list(sku_ids),
        )
        return [row["wanted"] for row in rows]

    # --- stock (this line)

    async def set_stock(self, sku_id: str, available: int) -> None:
        """Spread `available` over the buckets; waits for reservations holding a bucket to finish."""
        share, rest = divmod(available, STOCK_BUCKETS)
        await self._db.execute(
            """INSERT INTO stock (sku_id, bucket, available)
            SELECT $1, bucket, $2 + CASE WHEN bucket < $3 THEN 1 ELSE 0 END FROM generate_series(0, $4 - 1) AS bucket
            ON CONFLICT (sku_id, bucket) DO UPDATE SET available = excluded.available""",
            sku_id,
            share,
            rest,
            STOCK_BUCKETS,
        )

    async def stock(self, sku_id: str) -> StockLevel | None:
        """None when the SKU has no stock record on this line. One statement, so one snapshot: a lease or
        return (buckets and stock_leases in one transaction) is seen whole or not at all."""
        row = await self._db.fetchrow(
            """SELECT (SELECT sum(available) FROM stock WHERE sku_id = $1) AS available,
                (SELECT coalesce(sum(p.quantity), 0) FROM reservation_parts p JOIN reservations r USING (order_id)
                 WHERE p.sku_id = $1 AND r.state = 'reserved') AS reserved,
                (SELECT coalesce(sum(leased), 0) FROM stock_leases WHERE sku_id = $1) AS leased""",
            sku_id,
        )
        if row is None or row["available"] is None:
            return None
        return StockLevel(int(row["available"]), int(row["reserved"]), int(row["leased"]))

    async def has_stock(self, sku_id: str) -> bool:
        return bool(await self._db.fetchval("SELECT true FROM stock WHERE sku_id = $1 LIMIT 1", sku_id))

    async def reservation(self, order_id: str, *, lock: bool = False) -> Reservation | None:
        row = await self._db.fetchrow(
            "SELECT * FROM reservations WHERE order_id = $1" + (" FOR UPDATE" if lock else ""), order_id
        )
        return None if row is None else self._reservation(row)

    async def add_reservation(self, order_id: str, items: Sequence[ReservationItem], expires_at: datetime) -> bool:
        """False when the order already has a reservation (the idempotency key)."""
        status = await self._db.execute(
            """INSERT INTO reservations (order_id, items, state, expires_at) VALUES ($1, $2::jsonb, 'reserved', $3)
            ON CONFLICT (order_id) DO NOTHING""",
            order_id,
            json.dumps([asdict(item) for item in items]),
            expires_at,
        )
        return str(status) == "INSERT 0 1"

    async def take_stock(self, order_id: str, item: ReservationItem, *, start_bucket: int, wait: bool) -> str:
        outcome: str = await self._db.fetchval(
            "SELECT take_stock($1, $2, $3, $4, $5)", order_id, item.sku_id, item.quantity, start_bucket, wait
        )
        return outcome

    async def settle(self, order_ids: Sequence[str], state: ReservationState) -> None:
        await self._db.execute(
            "UPDATE reservations SET state = $2, settled_at = now() WHERE order_id = ANY($1::text[])",
            list(order_ids),
            state.value,
        )

    async def give_back(self, order_ids: Sequence[str]) -> None:
        """Return every part of these reservations to the buckets they came from, in one statement that
        locks the buckets in (sku, bucket) order, the order every waiting writer uses: two releases
        cannot deadlock, however their orders' buckets interleave."""
        await self._db.execute(
            """WITH parts AS (
                SELECT sku_id, bucket, sum(quantity) AS quantity FROM reservation_parts
                WHERE order_id = ANY($1::text[]) GROUP BY sku_id, bucket
            ), locked AS (
                SELECT s.sku_id, s.bucket FROM stock s JOIN parts USING (sku_id, bucket)
                ORDER BY s.sku_id, s.bucket FOR UPDATE OF s
            )
            UPDATE stock s SET available = s.available + parts.quantity
            FROM parts JOIN locked USING (sku_id, bucket)
            WHERE s.sku_id = parts.sku_id AND s.bucket = parts.bucket""",
            list(order_ids),
        )

    async def claim_due_reservations(self, *, job: str, limit: int) -> list[str]:
        """Order ids of reservations whose hold ran out, locked for this worker; others skip them (SKIP
        LOCKED), and so does the expiry job, those it set aside."""
        rows = await self._db.fetch(
            f"""SELECT order_id FROM reservations WHERE state = 'reserved' AND expires_at <= now()
                AND {not_set_aside("order_id", job_param="$2")}
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
            job,
        )
        return [row["order_id"] for row in rows]

    async def reservations(self, order_ids: Sequence[str]) -> list[Reservation]:
        rows = await self._db.fetch(
            "SELECT * FROM reservations WHERE order_id = ANY($1::text[]) ORDER BY order_id", list(order_ids)
        )
        return [self._reservation(row) for row in rows]

    # --- leases to groupbuy (this line)

    async def claim_lease_request(self, lease_id: str, kind: LeaseKind, sku_id: str, quantity: int) -> bool:
        """False when the lease id was used before (the idempotency key). Taken first in a lease or return:
        a concurrent retry of the same id waits here until the first commits, then finds its answer."""
        status = await self._db.execute(
            """INSERT INTO lease_requests (lease_id, kind, sku_id, quantity, leased) VALUES ($1, $2, $3, $4, 0)
            ON CONFLICT (lease_id) DO NOTHING""",
            lease_id,
            kind.value,
            sku_id,
            quantity,
        )
        return str(status) == "INSERT 0 1"

    async def lease_request(self, lease_id: str) -> StockLease | None:
        row = await self._db.fetchrow("SELECT * FROM lease_requests WHERE lease_id = $1", lease_id)
        if row is None:
            return None
        return StockLease(
            lease_id=str(row["lease_id"]),
            kind=LeaseKind(row["kind"]),
            sku_id=row["sku_id"],
            line=self.line,
            quantity=row["quantity"],
            leased=row["leased"],
        )

    async def move_stock(self, sku_id: str, change: int) -> int | None:
        """Add `change` to the SKU's stock (negative: take, at most all there is) and spread the result
        evenly over its buckets, as SetStock does, so that reservations keep finding stock in every bucket.
        Returns the change made, or None when the SKU has no stock on this line.

        All the SKU's buckets are locked in bucket order (the order every waiting writer uses) before any
        is written, and the new levels come from the locked rows only: a reservation that changed a bucket
        meanwhile is counted, never overwritten. The buckets' `available >= 0` check holds by construction."""
        moved: int | None = await self._db.fetchval(
            """WITH locked AS (
                SELECT bucket, available FROM stock WHERE sku_id = $1 ORDER BY bucket FOR UPDATE
            ), total AS (
                SELECT count(*) AS buckets, greatest($2, -sum(available)) AS change,
                    sum(available) + greatest($2, -sum(available)) AS after FROM locked
            ), spread AS (
                SELECT bucket, row_number() OVER (ORDER BY bucket) - 1 AS position FROM locked
            ), moved AS (
                UPDATE stock s SET available = t.after / t.buckets + CASE WHEN spread.position < t.after % t.buckets
                    THEN 1 ELSE 0 END
                FROM spread, total t WHERE s.sku_id = $1 AND s.bucket = spread.bucket
                RETURNING t.change
            )
            SELECT min(change) FROM moved""",
            sku_id,
            change,
        )
        return moved

    async def add_to_lease(self, lease_id: str, sku_id: str, granted: int) -> int:
        """Count `granted` as leased and record it as the lease's answer; returns what is leased now."""
        leased: int = await self._db.fetchval(
            """WITH lease AS (
                INSERT INTO stock_leases AS l (sku_id, leased) VALUES ($2, $3)
                ON CONFLICT (sku_id) DO UPDATE SET leased = l.leased + excluded.leased
                RETURNING leased
            )
            UPDATE lease_requests r SET quantity = $3, leased = lease.leased FROM lease
            WHERE r.lease_id = $1 RETURNING r.leased""",
            lease_id,
            sku_id,
            granted,
        )
        return leased

    async def subtract_from_lease(self, lease_id: str, sku_id: str, returned: int) -> int | None:
        """Count `returned` as no longer leased and record it as the return's answer; returns what is
        leased now, or None (and changes nothing) when less than `returned` is leased."""
        leased: int | None = await self._db.fetchval(
            """WITH lease AS (
                UPDATE stock_leases SET leased = leased - $3 WHERE sku_id = $2 AND leased >= $3 RETURNING leased
            )
            UPDATE lease_requests r SET leased = lease.leased FROM lease
            WHERE r.lease_id = $1 RETURNING r.leased""",
            lease_id,
            sku_id,
            returned,
        )
        return leased

    # --- mapping

    def _listing(self, row: Any) -> Listing:
        rule = None if row["group_rule"] is None else GroupRule(**json.loads(row["group_rule"]))
        return Listing(
            sku_id=row["sku_id"],
            line=self.line,
            product_id=row["product_id"],
            title=row["title"],
            category_id=row["category_id"],
            belt_id=row["belt_id"],
            factory_direct=row["factory_direct"],
            image_url=row["image_url"],
            prices=Prices(
                price_minor=row["price_minor"],
                plus_price_minor=row["plus_price_minor"],
                group_price_minor=row["group_price_minor"],
                leader_price_minor=row["leader_price_minor"],
                group_rule=rule,
            ),
            active=row["active"],
            version=row["version"],
            updated_at=row["updated_at"],
        )

    def _reservation(self, row: Any) -> Reservation:
        return Reservation(
            order_id=row["order_id"],
            line=self.line,
            items=tuple(ReservationItem(**item) for item in json.loads(row["items"])),
            state=ReservationState(row["state"]),
            expires_at=row["expires_at"],
        )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
