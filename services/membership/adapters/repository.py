"""PostgreSQL access for membership. One repository per line, on a connection whose search_path is that
line's schema; the shared trial claims are named by their schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from libs.core import AlreadyExists, user_line
from libs.jobs import not_set_aside
from services.membership.domain.coupons import CouponBalance
from services.membership.domain.model import Membership, Payment, PaymentKind, PaymentOrder, Period
from services.membership.domain.plans import Plan

TRIALS_SCHEMA = "membership_trials"
# The class half of the two-key advisory locks taken per member (the key space of two-int locks never
# overlaps the one-bigint locks the outbox relay and migrations take).
_MEMBER_LOCK_CLASS = 0x504C5553  # "PLUS"

_MEMBERSHIP_COLUMNS = "user_id, plan, state, started_at, expires_at, auto_renew"
_PAYMENT_COLUMNS = """payment_reference, user_id, kind, plan, amount_minor, currency, run_started_at,
    starts_at, ends_at, auto_renew"""


class MembershipRepository:
    def __init__(self, connection: asyncpg.Connection):
        self._db = connection

    async def lock_member(self, user_id: str) -> None:
        """Serialises every change of one member until the transaction ends, including a first purchase,
        when there is no row yet to lock. Other members are never held up (a hash collision only makes
        two members wait for each other)."""
        await self._db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _MEMBER_LOCK_CLASS, user_id)

    # --- memberships

    async def membership(self, user_id: str, *, for_update: bool = False) -> Membership | None:
        # FOR UPDATE waits for an expiry job that holds the row, so a change never races its expiry.
        lock = " FOR UPDATE" if for_update else ""
        row = await self._db.fetchrow(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = $1{lock}", user_id
        )
        return None if row is None else _membership(row)

    async def save_membership(self, membership: Membership) -> None:
        await self._db.execute(
            """INSERT INTO memberships (user_id, plan, state, started_at, expires_at, auto_renew)
            VALUES ($1, $2, 'active', $3, $4, $5)
            ON CONFLICT (user_id) DO UPDATE SET plan = excluded.plan, state = 'active',
                started_at = excluded.started_at, expires_at = excluded.expires_at,
                auto_renew = excluded.auto_renew, updated_at = now()""",
            membership.user_id,
            membership.plan.value,
            membership.started_at,
            membership.expires_at,
            membership.auto_renew,
        )

    async def stop_auto_renew(self, user_id: str) -> None:
        await self._db.execute(
            "UPDATE memberships SET auto_renew = false, updated_at = now() WHERE user_id = $1", user_id
        )

    async def claim_due(self, *, now: datetime, job: str, limit: int) -> list[str]:
        """Members whose membership ended by `now`, up to `limit`, locked. SKIP LOCKED lets concurrent jobs
        take disjoint batches; a row another job already expired no longer matches, nor does one the
        expiry job set aside."""
        rows = await self._db.fetch(
            f"""SELECT user_id FROM memberships WHERE state = 'active' AND expires_at <= $1
                AND {not_set_aside("user_id", job_param="$3")}
            ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
            job,
        )
        return [row["user_id"] for row in rows]

    async def expire(self, user_ids: Sequence[str]) -> list[Membership]:
        """Marks those of the memberships (locked) still active as expired, and returns them."""
        rows = await self._db.fetch(
            """UPDATE memberships SET state = 'expired', updated_at = now()
            WHERE user_id = ANY($1::text[]) AND state = 'active'
            RETURNING user_id, plan, state, started_at, expires_at, auto_renew""",
            list(user_ids),
        )
        return [_membership(row) for row in rows]

    async def member_until(self, user_id: str, at: datetime) -> datetime | None:
        """The end of the uninterrupted membership covering `at`, or None: one statement on the
        (user_id, starts_at) index over the few payments a member has."""
        value: datetime | None = await self._db.fetchval(
            """SELECT max(p.ends_at) FROM payments p
            WHERE p.user_id = $1 AND p.run_started_at = (
                SELECT run_started_at FROM payments
                WHERE user_id = $1 AND starts_at <= $2 AND ends_at > $2 LIMIT 1)""",
            user_id,
            at,
        )
        return value

    # --- payments

    async def payment(self, reference: str) -> Payment | None:
        row = await self._db.fetchrow(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE payment_reference = $1", reference
        )
        return None if row is None else _payment(row)

    async def add_payment(self, payment: Payment) -> None:
        order, period = payment.order, payment.period
        try:
            await self._db.execute(
                f"INSERT INTO payments ({_PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                order.reference,
                order.user_id,
                order.kind.value,
                order.plan.value,
                order.amount_minor,
                order.currency,
                period.run_started_at,
                period.starts_at,
                period.ends_at,
                payment.auto_renew,
            )
            await self._db.execute(
                f"""INSERT INTO {TRIALS_SCHEMA}.payment_references (payment_reference, line, user_id)
                VALUES ($1, $2, $3)""",
                order.reference,
                user_line(order.user_id).value,
                order.user_id,
            )
        except asyncpg.UniqueViolationError:
            # The same member's retries are serialised by lock_member; this is another member's payment
            # (of this line or the other) recorded with the same reference.
            raise AlreadyExists(
                f"payment reference {order.reference} was recorded for another order at the same moment",
                reason="PAYMENT_REFERENCE_REUSED",
            ) from None

    # --- trials

    async def claim_trial(self, user_ids: Sequence[str], *, claimed_by: str, reference: str) -> bool:
        """Claims the trial for all these accounts, or for none (False) when any of them already took one.
        Claims are inserted in id order, so two linked accounts claiming at once wait for each other
        instead of deadlocking, and the second gets the conflict."""
        try:
            async with self._db.transaction():  # a savepoint: a refused claim leaves the transaction usable
                await self._db.execute(
                    f"""INSERT INTO {TRIALS_SCHEMA}.trial_claims (user_id, claimed_by, payment_reference)
                    SELECT account, $2, $3 FROM unnest($1::text[]) WITH ORDINALITY AS ids(account, position)
                    ORDER BY position""",
                    sorted(set(user_ids)),
                    claimed_by,
                    reference,
                )
        except asyncpg.UniqueViolationError:
            return False
        return True

    # --- coupons

    async def grant_coupons(self, user_id: str, *, month: date, count: int) -> CouponBalance:
        """The month's ledger, granting `count` coupons unless they were granted already (the key keeps
        one grant per member and month, however many first accesses race). The no-op update on conflict
        makes the statement return the existing row."""
        row = await self._db.fetchrow(
            """INSERT INTO coupon_ledgers (user_id, month, granted, remaining) VALUES ($1, $2, $3, $3)
            ON CONFLICT (user_id, month) DO UPDATE SET granted = coupon_ledgers.granted
            RETURNING granted, remaining""",
            user_id,
            month,
            count,
        )
        return CouponBalance(user_id, month, row["granted"], row["remaining"])

    async def coupon_ledger(self, user_id: str, *, month: date) -> CouponBalance | None:
        row = await self._db.fetchrow(
            "SELECT granted, remaining FROM coupon_ledgers WHERE user_id = $1 AND month = $2", user_id, month
        )
        return None if row is None else CouponBalance(user_id, month, row["granted"], row["remaining"])

    async def spend_coupon(self, user_id: str, *, month: date) -> CouponBalance | None:
        """One coupon fewer, or None when none is left: a conditional update, never a read-then-write."""
        row = await self._db.fetchrow(
            """UPDATE coupon_ledgers SET remaining = remaining - 1
            WHERE user_id = $1 AND month = $2 AND remaining > 0 RETURNING granted, remaining""",
            user_id,
            month,
        )
        return None if row is None else CouponBalance(user_id, month, row["granted"], row["remaining"])

    async def coupon_use(self, order_id: str) -> tuple[str, CouponBalance] | None:
        """(the user it was used for, the balance right after it) for an order's coupon, if one was used."""
        row = await self._db.fetchrow(
            """SELECT u.user_id, u.month, u.remaining_after, l.granted FROM coupon_uses u
            JOIN coupon_ledgers l USING (user_id, month) WHERE u.order_id = $1""",
            order_id,
        )
        if row is None:
            return None
        return row["user_id"], CouponBalance(row["user_id"], row["month"], row["granted"], row["remaining_after"])

    async def record_coupon_use(self, order_id: str, balance: CouponBalance) -> None:
        try:
            await self._db.execute(
                "INSERT INTO coupon_uses (order_id, user_id, month, remaining_after) VALUES ($1, $2, $3, $4)",
                order_id,
                balance.user_id,
                balance.month,
                balance.remaining,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"order {order_id} used a coupon of another member at the same moment", reason="ORDER_ID_REUSED"
            ) from None


def _membership(row: Any) -> Membership:
    return Membership(
        user_id=row["user_id"],
        plan=Plan(row["plan"]),
        started_at=row["started_at"],
        expires_at=row["expires_at"],
        auto_renew=row["auto_renew"],
        expiry_announced=row["state"] == "expired",
    )


def _payment(row: Any) -> Payment:
    order = PaymentOrder(
        user_id=row["user_id"],
        kind=PaymentKind(row["kind"]),
        plan=Plan(row["plan"]),
        reference=row["payment_reference"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        auto_renew=row["auto_renew"],
    )
    return Payment(order, Period(row["run_started_at"], row["starts_at"], row["ends_at"]), auto_renew=row["auto_renew"])
