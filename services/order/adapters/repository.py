"""PostgreSQL access for orders. One repository per line, on a connection whose search_path is that
line's schema. State changes are conditional updates naming the state they expect: of two racing
changes, the second finds nothing to change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from libs.jobs import not_set_aside
from services.order.domain.model import (
    CancelReason,
    Channel,
    Order,
    OrderItem,
    OrderKind,
    OrderState,
    Refund,
    RefundReason,
    RefundState,
)

_ORDER_COLUMNS = """order_id, user_id, kind, state, total_minor, currency, channel, shipping_city, pay_by,
    group_id, seat_id, group_leader, group_expires_at, payment_reference, paid_at, cancel_reason, tracking_number,
    created_at, updated_at"""
_REFUND_COLUMNS = """refund_id, order_id, reason, state, amount_minor, currency, payment_reference, attempts,
    requested_at, updated_at, provider_reference, last_error"""


class OrderRepository:
    def __init__(self, connection: asyncpg.Connection):
        self._db = connection

    # --- idempotency keys

    async def claim_key(self, scope: str, key: str, *, method: str, digest: bytes) -> bool:
        """Claims the key for this transaction. A concurrent call with the same key waits here until the
        first commits (then finds the key taken) or rolls back (then claims it itself)."""
        claimed = await self._db.fetchval(
            """INSERT INTO idempotency_keys (scope, idempotency_key, method, request_digest, response)
            VALUES ($1, $2, $3, $4, ''::bytea) ON CONFLICT DO NOTHING RETURNING true""",
            scope,
            key,
            method,
            digest,
        )
        return bool(claimed)

    async def keyed_response(self, scope: str, key: str) -> asyncpg.Record | None:
        return await self._db.fetchrow(
            "SELECT method, request_digest, response FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
            scope,
            key,
        )

    async def save_response(self, scope: str, key: str, response: bytes) -> None:
        await self._db.execute(
            "UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND idempotency_key = $2", scope, key, response
        )

    async def claim_old_keys(self, *, created_before: datetime, job: str, limit: int) -> list[tuple[str, str]]:
        """(scope, key) of keys created before then, locked; SKIP LOCKED gives concurrent jobs disjoint
        batches. The key job's rows set aside (as `scope/key`) are skipped."""
        rows = await self._db.fetch(
            f"""SELECT scope, idempotency_key FROM idempotency_keys
            WHERE created_at < $1 AND {not_set_aside("scope || '/' || idempotency_key", job_param="$3")}
            LIMIT $2 FOR UPDATE SKIP LOCKED""",
            created_before,
            limit,
            job,
        )
        return [(row["scope"], row["idempotency_key"]) for row in rows]

    async def forget_keys(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        rows = await self._db.fetch(
            """DELETE FROM idempotency_keys
            WHERE (scope, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
            RETURNING scope, idempotency_key""",
            [scope for scope, _ in keys],
            [key for _, key in keys],
        )
        return [(row["scope"], row["idempotency_key"]) for row in rows]

    # --- orders

    async def add_order(self, order: Order) -> bool:
        """Inserts the order with its items in one statement; False (and nothing written) when an order
        with its id exists already: the id names one order, however often it is placed."""
        placed = await self._db.fetchval(
            """WITH placed AS (
                INSERT INTO orders (order_id, user_id, kind, state, total_minor, currency, channel, shipping_city,
                    pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
                ON CONFLICT (order_id) DO NOTHING RETURNING order_id
            ), items AS (
                INSERT INTO order_items (order_id, sku_id, quantity, unit_price_minor, list_price_minor, plus_price)
                SELECT placed.order_id, item.* FROM placed,
                    unnest($16::text[], $17::integer[], $18::bigint[], $19::bigint[], $20::boolean[]) AS item
            )
            SELECT count(*) > 0 FROM placed""",
            order.order_id,
            order.user_id,
            order.kind.value,
            order.state.value,
            order.total_minor,
            order.currency,
            order.channel.value,
            order.shipping_city,
            order.pay_by,
            order.group_id,
            order.seat_id,
            order.group_leader,
            order.group_expires_at,
            order.paid_at,
            order.created_at,
            [item.sku_id for item in order.items],
            [item.quantity for item in order.items],
            [item.unit_price_minor for item in order.items],
            [item.list_price_minor for item in order.items],
            [item.plus_price for item in order.items],
        )
        return bool(placed)

    async def buyer_of(self, order_id: str) -> str | None:
        """The order's buyer; None when there is no such order (yet)."""
        buyer: str | None = await self._db.fetchval("SELECT user_id FROM orders WHERE order_id = $1", order_id)
        return buyer

    async def order(self, order_id: str, *, for_update: bool = False) -> Order | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._db.fetchrow(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = $1{lock}", order_id)
        if row is None:
            return None
        return (await self._complete([row]))[0]

    async def move(self, order_id: str, *, expected: Sequence[OrderState], to: OrderState, **changes: Any) -> bool:
        """Moves the order to `to` if it is in one of the `expected` states, setting `changes` (column =
        value) too. False when it was not (someone else moved it first)."""
        columns = ["state", *changes]
        assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(columns, start=3))
        moved = await self._db.fetchval(
            f"""UPDATE orders SET {assignments}, updated_at = now()
            WHERE order_id = $1 AND state = ANY($2::text[]) RETURNING true""",
            order_id,
            [state.value for state in expected],
            to.value,
            *[value.value if isinstance(value, StrEnum) else value for value in changes.values()],
        )
        return bool(moved)

    async def group_orders(self, group_id: str, *, states: Sequence[OrderState]) -> list[Order]:
        """The group's orders in the given states, locked in id order (a fixed order: no deadlocks)."""
        rows = await self._db.fetch(
            f"""SELECT {_ORDER_COLUMNS} FROM orders WHERE group_id = $1 AND state = ANY($2::text[])
            ORDER BY order_id FOR UPDATE""",
            group_id,
            [state.value for state in states],
        )
        return await self._complete(rows)

    async def record_group_failed(self, group_id: str, *, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO failed_groups (group_id, failed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", group_id, at
        )

    async def group_has_failed(self, group_id: str) -> bool:
        return bool(await self._db.fetchval("SELECT true FROM failed_groups WHERE group_id = $1", group_id))

    async def claim_old_failed_groups(self, *, failed_before: datetime, job: str, limit: int) -> list[str]:
        rows = await self._db.fetch(
            f"""SELECT group_id FROM failed_groups WHERE failed_at < $1 AND {not_set_aside("group_id", job_param="$3")}
            LIMIT $2 FOR UPDATE SKIP LOCKED""",
            failed_before,
            limit,
            job,
        )
        return [row["group_id"] for row in rows]

    async def forget_failed_groups(self, group_ids: Sequence[str]) -> list[str]:
        rows = await self._db.fetch(
            "DELETE FROM failed_groups WHERE group_id = ANY($1::text[]) RETURNING group_id", list(group_ids)
        )
        return [row["group_id"] for row in rows]

    async def claim_unpaid_due(self, *, pay_by_before: datetime, job: str, limit: int) -> list[str]:
        """Up to `limit` unpaid orders whose pay_by is before then, locked (the payment-timeout job's rows
        set aside skipped). SKIP LOCKED lets concurrent jobs take disjoint batches, and keeps off an order a
        payment is confirming right now."""
        rows = await self._db.fetch(
            f"""SELECT order_id FROM orders WHERE state = 'pending_payment' AND pay_by < $1
                AND {not_set_aside("order_id", job_param="$3")}
            ORDER BY pay_by LIMIT $2 FOR UPDATE SKIP LOCKED""",
            pay_by_before,
            limit,
            job,
        )
        return [row["order_id"] for row in rows]

    async def cancel_unpaid(self, order_ids: Sequence[str], *, reason: CancelReason) -> list[Order]:
        """Cancels those of the orders (locked) still unpaid, and returns them."""
        rows = await self._db.fetch(
            f"""UPDATE orders SET state = 'cancelled', cancel_reason = $2, updated_at = now()
            WHERE order_id = ANY($1::text[]) AND state = 'pending_payment'
            RETURNING {_ORDER_COLUMNS}""",
            list(order_ids),
            reason.value,
        )
        return await self._complete(rows)

    async def user_orders(self, user_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[Order]:
        rows = await self._db.fetch(
            f"""SELECT {_ORDER_COLUMNS} FROM orders WHERE user_id = $1
                AND ($2::timestamptz IS NULL OR (created_at, order_id) < ($2, $3))
            ORDER BY created_at DESC, order_id DESC LIMIT $4""",
            user_id,
            after[0] if after else None,
            after[1] if after else "",
            limit,
        )
        return await self._complete(rows)

    async def orders_in_state(
        self, state: OrderState, *, kind: OrderKind | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Order]:
        rows = await self._db.fetch(
            f"""SELECT {_ORDER_COLUMNS} FROM orders WHERE state = $1 AND ($2::text IS NULL OR kind = $2)
                AND ($3::timestamptz IS NULL OR (created_at, order_id) < ($3, $4))
            ORDER BY created_at DESC, order_id DESC LIMIT $5""",
            state.value,
            kind.value if kind else None,
            after[0] if after else None,
            after[1] if after else "",
            limit,
        )
        return await self._complete(rows)

    async def _complete(self, rows: Sequence[asyncpg.Record]) -> list[Order]:
        """Orders of the rows, with their items and refunds (two queries for any number of orders)."""
        if not rows:
            return []
        ids = [row["order_id"] for row in rows]
        items: dict[str, list[OrderItem]] = {order_id: [] for order_id in ids}
        for item in await self._db.fetch(
            """SELECT order_id, sku_id, quantity, unit_price_minor, list_price_minor, plus_price
            FROM order_items WHERE order_id = ANY($1::text[]) ORDER BY order_id, sku_id""",
            ids,
        ):
            items[item["order_id"]].append(
                OrderItem(
                    item["sku_id"],
                    item["quantity"],
                    item["unit_price_minor"],
                    item["list_price_minor"],
                    item["plus_price"],
                )
            )
        refunds: dict[str, list[Refund]] = {order_id: [] for order_id in ids}
        for refund in await self._db.fetch(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE order_id = ANY($1::text[]) ORDER BY requested_at",
            ids,
        ):
            refunds[refund["order_id"]].append(_refund(refund))
        return [_order(row, items[row["order_id"]], refunds[row["order_id"]]) for row in rows]

    # --- payments

    async def claim_payment(
        self, reference: str, *, order_id: str, amount_minor: int, currency: str, paid_at: datetime, outcome: str
    ) -> bool:
        """Records a confirmation under its reference; False when the reference was seen before (a
        concurrent first confirmation is waited for)."""
        claimed = await self._db.fetchval(
            """INSERT INTO payment_confirmations (payment_reference, order_id, amount_minor, currency, paid_at, outcome)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
            reference,
            order_id,
            amount_minor,
            currency,
            paid_at,
            outcome,
        )
        return bool(claimed)

    async def payment(self, reference: str) -> asyncpg.Record | None:
        return await self._db.fetchrow(
            "SELECT order_id, outcome, response FROM payment_confirmations WHERE payment_reference = $1", reference
        )

    async def settle_payment(self, reference: str, *, outcome: str, response: bytes | None = None) -> None:
        await self._db.execute(
            "UPDATE payment_confirmations SET outcome = $2, response = $3 WHERE payment_reference = $1",
            reference,
            outcome,
            response,
        )

    # --- refunds

    async def add_refund(self, refund: Refund, *, next_attempt_at: datetime) -> bool:
        """False when the payment already has a refund (a payment is refunded at most once)."""
        added = await self._db.fetchval(
            """INSERT INTO refunds (refund_id, order_id, reason, state, amount_minor, currency, payment_reference,
                attempts, next_attempt_at, requested_at, updated_at)
            VALUES ($1, $2, $3, 'requested', $4, $5, $6, 1, $7, $8, $8)
            ON CONFLICT (payment_reference) DO NOTHING RETURNING true""",
            refund.refund_id,
            refund.order_id,
            refund.reason.value,
            refund.amount_minor,
            refund.currency,
            refund.payment_reference,
            next_attempt_at,
            refund.requested_at,
        )
        return bool(added)

    async def refund(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._db.fetchrow(f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE refund_id = $1{lock}", refund_id)
        return None if row is None else _refund(row)

    async def update_refund(
        self,
        refund_id: str,
        *,
        state: RefundState,
        next_attempt_at: datetime | None,
        provider_reference: str | None = None,
        error: str | None = None,
    ) -> Refund:
        row = await self._db.fetchrow(
            f"""UPDATE refunds SET state = $2, next_attempt_at = $3,
                provider_reference = coalesce($4, provider_reference), last_error = coalesce($5, last_error),
                updated_at = now()
            WHERE refund_id = $1 RETURNING {_REFUND_COLUMNS}""",
            refund_id,
            state.value,
            next_attempt_at,
            provider_reference,
            error,
        )
        return _refund(row)

    async def claim_silent_refunds(self, *, now: datetime, job: str, limit: int) -> list[str]:
        """Refunds still waiting for the provider past their next attempt time, locked (the retry job's rows
        set aside skipped). SKIP LOCKED lets concurrent jobs take disjoint batches."""
        rows = await self._db.fetch(
            f"""SELECT refund_id FROM refunds WHERE state = 'requested' AND next_attempt_at <= $1
                AND {not_set_aside("refund_id", job_param="$3")}
            ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
            job,
        )
        return [row["refund_id"] for row in rows]

    async def retry_refund(self, refund_id: str, *, attempts: int, next_attempt_at: datetime) -> None:
        """Counts the next attempt of a refund (one that failed for good is requested again)."""
        await self._db.execute(
            """UPDATE refunds SET state = 'requested', attempts = $2, next_attempt_at = $3, updated_at = now()
            WHERE refund_id = $1""",
            refund_id,
            attempts,
            next_attempt_at,
        )


def _order(row: asyncpg.Record, items: Sequence[OrderItem], refunds: Sequence[Refund]) -> Order:
    return Order(
        order_id=row["order_id"],
        user_id=row["user_id"],
        kind=OrderKind(row["kind"]),
        state=OrderState(row["state"]),
        items=tuple(items),
        total_minor=row["total_minor"],
        currency=row["currency"],
        channel=Channel(row["channel"]),
        shipping_city=row["shipping_city"],
        pay_by=row["pay_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        group_id=row["group_id"],
        seat_id=row["seat_id"],
        group_leader=row["group_leader"],
        group_expires_at=row["group_expires_at"],
        payment_reference=row["payment_reference"],
        paid_at=row["paid_at"],
        cancel_reason=CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None,
        tracking_number=row["tracking_number"],
        refunds=tuple(refunds),
    )


def _refund(row: asyncpg.Record) -> Refund:
    return Refund(
        refund_id=row["refund_id"],
        order_id=row["order_id"],
        reason=RefundReason(row["reason"]),
        state=RefundState(row["state"]),
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        payment_reference=row["payment_reference"],
        attempts=row["attempts"],
        requested_at=row["requested_at"],
        updated_at=row["updated_at"],
        provider_reference=row["provider_reference"],
        last_error=row["last_error"],
    )
