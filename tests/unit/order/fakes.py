"""In-memory stand-ins for order's unit of work and repository, and for its ports to catalog and
membership, for unit tests of the service layer (cosmicpython's fake unit of work). The SQL itself is
proven by tests/integration/order.

The fakes subclass the real classes so that mypy holds every faked method to the real signature; they
never call the real constructors, so a method the fakes do not implement fails loudly (no connection)
instead of passing. A transaction is a snapshot of the tables: leaving it with an error puts the snapshot
back and drops the queued events, as Postgres's rollback would; a commit appends the events to the line's
outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import asyncpg

from libs.core import AlreadyExists, BusinessLine, DomainError
from libs.events.outbox import OutboxEvent
from services.order.adapters.repository import OrderRepository
from services.order.domain.model import (
    CancelReason,
    MallPrice,
    Order,
    OrderKind,
    OrderState,
    Refund,
    RefundState,
)
from services.order.service_layer.unit_of_work import UnitOfWork
from tests.unit.fake_uow import FakeLineTransaction


@dataclass
class StoredRefund:
    refund: Refund
    next_attempt_at: datetime | None


@dataclass
class LineTables:
    """One line's schema (order_mall or order_pingou)."""

    orders: dict[str, Order] = field(default_factory=dict)  # orders (+ order_items), PRIMARY KEY (order_id)
    keys: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # idempotency_keys (scope, key)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # payment_confirmations (payment_reference)
    refunds: dict[str, StoredRefund] = field(default_factory=dict)  # refunds, PRIMARY KEY (refund_id)
    failed_groups: dict[str, datetime] = field(default_factory=dict)  # failed_groups, PRIMARY KEY (group_id)
    set_aside: set[tuple[str, str]] = field(default_factory=set)  # job_set_aside (job, row)
    outbox: list[OutboxEvent] = field(default_factory=list)


@dataclass
class FakeDatabase:
    lines: dict[BusinessLine, LineTables] = field(default_factory=lambda: {line: LineTables() for line in BusinessLine})

    def restore(self, snapshot: FakeDatabase) -> None:
        self.lines = snapshot.lines


def _check_order(order: Order) -> None:
    """The orders table's CHECKs: every state past payment has paid_at, a cancelled order its reason, a
    group order its group and seat."""
    sound = (
        (order.kind is OrderKind.GROUP) == (order.group_id is not None and order.seat_id is not None)
        and (order.state is OrderState.CANCELLED) == (order.cancel_reason is not None)
        and (order.state in (OrderState.PENDING_PAYMENT, OrderState.CANCELLED) or order.paid_at is not None)
        and (order.payment_reference is None or order.paid_at is not None)
        and order.total_minor >= 0
    )
    if not sound:
        raise asyncpg.CheckViolationError(f"new row for relation orders violates a check constraint: {order}")


def _check_refund(refund: Refund, next_attempt_at: datetime | None) -> None:
    """The refunds table's CHECKs."""
    sound = (
        refund.amount_minor > 0
        and refund.attempts >= 1
        and (refund.state is RefundState.REQUESTED) == (next_attempt_at is not None)
        and (refund.state is not RefundState.SUCCEEDED or refund.provider_reference is not None)
    )
    if not sound:
        raise asyncpg.CheckViolationError(f"new row for relation refunds violates a check constraint: {refund}")


class FakeOrderRepository(OrderRepository):
    def __init__(self, database: FakeDatabase, line: BusinessLine) -> None:  # no connection on purpose
        self._database = database
        self._line = line

    @property
    def _tables(self) -> LineTables:
        return self._database.lines[self._line]

    # --- idempotency keys

    async def claim_key(self, scope: str, key: str, *, method: str, digest: bytes) -> bool:
        if (scope, key) in self._tables.keys:  # PRIMARY KEY (scope, idempotency_key): ON CONFLICT DO NOTHING
            return False
        self._tables.keys[(scope, key)] = {
            "method": method,
            "request_digest": digest,
            "response": b"",
            "created_at": datetime.now(UTC),
        }
        return True

    async def keyed_response(self, scope: str, key: str) -> Any:
        return self._tables.keys.get((scope, key))

    async def save_response(self, scope: str, key: str, response: bytes) -> None:
        self._tables.keys[(scope, key)]["response"] = response

    async def claim_old_keys(self, *, created_before: datetime, job: str, limit: int) -> list[tuple[str, str]]:
        old = [
            pair
            for pair, row in self._tables.keys.items()
            if row["created_at"] < created_before and (job, "/".join(pair)) not in self._tables.set_aside
        ]
        return old[:limit]

    async def forget_keys(self, keys: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [pair for pair in keys if self._tables.keys.pop(pair, None) is not None]

    # --- orders

    async def add_order(self, order: Order) -> bool:
        if order.order_id in self._tables.orders:  # PRIMARY KEY (order_id): ON CONFLICT DO NOTHING
            return False
        _check_order(order)
        self._tables.orders[order.order_id] = replace(order, refunds=())
        return True

    async def buyer_of(self, order_id: str) -> str | None:
        order = self._tables.orders.get(order_id)
        return None if order is None else order.user_id

    async def order(self, order_id: str, *, for_update: bool = False) -> Order | None:
        order = self._tables.orders.get(order_id)
        return None if order is None else self._with_refunds(order)

    async def move(self, order_id: str, *, expected: Sequence[OrderState], to: OrderState, **changes: Any) -> bool:
        current = self._tables.orders.get(order_id)
        if current is None or current.state not in expected:  # WHERE order_id = $1 AND state = ANY($2)
            return False
        moved = replace(current, state=to, updated_at=datetime.now(UTC), **changes)
        reference = changes.get("payment_reference")
        if reference is not None and any(
            other.payment_reference == reference for other in self._tables.orders.values() if other is not current
        ):  # orders.payment_reference UNIQUE
            raise asyncpg.UniqueViolationError("orders_payment_reference_key")
        _check_order(moved)
        self._tables.orders[order_id] = moved
        return True

    async def group_orders(self, group_id: str, *, states: Sequence[OrderState]) -> list[Order]:
        found = [o for o in self._tables.orders.values() if o.group_id == group_id and o.state in states]
        return [self._with_refunds(o) for o in sorted(found, key=lambda o: o.order_id)]

    async def record_group_failed(self, group_id: str, *, at: datetime) -> None:
        self._tables.failed_groups.setdefault(group_id, at)  # ON CONFLICT DO NOTHING

    async def group_has_failed(self, group_id: str) -> bool:
        return group_id in self._tables.failed_groups

    async def claim_old_failed_groups(self, *, failed_before: datetime, job: str, limit: int) -> list[str]:
        old = [
            group_id
            for group_id, failed_at in self._tables.failed_groups.items()
            if failed_at < failed_before and (job, group_id) not in self._tables.set_aside
        ]
        return old[:limit]

    async def forget_failed_groups(self, group_ids: Sequence[str]) -> list[str]:
        return [g for g in group_ids if self._tables.failed_groups.pop(g, None) is not None]

    async def claim_unpaid_due(self, *, pay_by_before: datetime, job: str, limit: int) -> list[str]:
        due = [
            o
            for o in self._tables.orders.values()
            if o.state is OrderState.PENDING_PAYMENT
            and o.pay_by < pay_by_before
            and (job, o.order_id) not in self._tables.set_aside
        ]
        return [o.order_id for o in sorted(due, key=lambda o: o.pay_by)[:limit]]

    async def cancel_unpaid(self, order_ids: Sequence[str], *, reason: CancelReason) -> list[Order]:
        cancelled = []
        for order_id in order_ids:
            if await self.move(order_id, expected=[OrderState.PENDING_PAYMENT], to=OrderState.CANCELLED,
                               cancel_reason=reason):  # fmt: skip
                cancelled.append(self._with_refunds(self._tables.orders[order_id]))
        return cancelled

    def _with_refunds(self, order: Order) -> Order:
        """The order with its refunds, oldest first, as the repository reads them."""
        refunds = sorted(
            (r.refund for r in self._tables.refunds.values() if r.refund.order_id == order.order_id),
            key=lambda r: r.requested_at,
        )
        return replace(order, refunds=tuple(refunds))

    # --- payments

    async def claim_payment(
        self, reference: str, *, order_id: str, amount_minor: int, currency: str, paid_at: datetime, outcome: str
    ) -> bool:
        if reference in self._tables.payments:  # PRIMARY KEY (payment_reference): ON CONFLICT DO NOTHING
            return False
        assert order_id in self._tables.orders  # REFERENCES orders
        self._tables.payments[reference] = {
            "order_id": order_id,
            "amount_minor": amount_minor,
            "currency": currency,
            "paid_at": paid_at,
            "outcome": outcome,
            "response": None,
        }
        return True

    async def payment(self, reference: str) -> Any:
        return self._tables.payments.get(reference)

    async def settle_payment(self, reference: str, *, outcome: str, response: bytes | None = None) -> None:
        self._tables.payments[reference].update(outcome=outcome, response=response)

    # --- refunds

    async def add_refund(self, refund: Refund, *, next_attempt_at: datetime) -> bool:
        if any(r.refund.payment_reference == refund.payment_reference for r in self._tables.refunds.values()):
            return False  # refunds.payment_reference UNIQUE: ON CONFLICT (payment_reference) DO NOTHING
        if refund.refund_id in self._tables.refunds:  # PRIMARY KEY (refund_id)
            raise asyncpg.UniqueViolationError("refunds_pkey")
        assert refund.order_id in self._tables.orders  # REFERENCES orders
        stored = replace(refund, state=RefundState.REQUESTED, attempts=1, updated_at=refund.requested_at)
        _check_refund(stored, next_attempt_at)
        self._tables.refunds[refund.refund_id] = StoredRefund(stored, next_attempt_at)
        return True

    async def refund(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        stored = self._tables.refunds.get(refund_id)
        return None if stored is None else stored.refund

    async def update_refund(
        self,
        refund_id: str,
        *,
        state: RefundState,
        next_attempt_at: datetime | None,
        provider_reference: str | None = None,
        error: str | None = None,
    ) -> Refund:
        current = self._tables.refunds[refund_id].refund
        updated = replace(
            current,
            state=state,
            # coalesce($4, provider_reference), coalesce($5, last_error): only NULL keeps what was there
            provider_reference=current.provider_reference if provider_reference is None else provider_reference,
            last_error=current.last_error if error is None else error,
            updated_at=datetime.now(UTC),
        )
        _check_refund(updated, next_attempt_at)
        self._tables.refunds[refund_id] = StoredRefund(updated, next_attempt_at)
        return updated

    async def claim_silent_refunds(self, *, now: datetime, job: str, limit: int) -> list[str]:
        silent = [
            r
            for r in self._tables.refunds.values()
            if r.refund.state is RefundState.REQUESTED
            and r.next_attempt_at is not None
            and r.next_attempt_at <= now
            and (job, r.refund.refund_id) not in self._tables.set_aside
        ]
        return [r.refund.refund_id for r in sorted(silent, key=lambda r: r.next_attempt_at or now)[:limit]]

    async def retry_refund(self, refund_id: str, *, attempts: int, next_attempt_at: datetime) -> None:
        current = self._tables.refunds[refund_id].refund
        updated = replace(current, state=RefundState.REQUESTED, attempts=attempts, updated_at=datetime.now(UTC))
        _check_refund(updated, next_attempt_at)
        self._tables.refunds[refund_id] = StoredRefund(updated, next_attempt_at)


class FakeUnitOfWork(FakeLineTransaction, UnitOfWork):
    """One line's unit of work over the fake database; counts its commits and rollbacks."""

    database: FakeDatabase

    def __init__(self, database: FakeDatabase | None = None, line: BusinessLine = BusinessLine.MALL) -> None:
        super().__init__(None, line)
        self.database = database if database is not None else FakeDatabase()
        self.repository = FakeOrderRepository(self.database, line)
        self.orders = self.repository
        self.begin()

    def __call__(self) -> Self:
        """The unit-of-work factory the use cases take (`make_uow`): this same unit of work, begun anew."""
        return self

    @property
    def tables(self) -> LineTables:
        return self.database.lines[self.line]

    def published_types(self) -> list[str]:
        return [type(payload).__name__ for payload in self.published]


class FakeCatalog:
    """Catalog's listings and reservations (the StockAndPrices port). Reservations are idempotent by order
    id, as catalog's are; `refusal` is raised as the gRPC adapter raises catalog's refusals."""

    def __init__(self, prices: Mapping[str, MallPrice] | None = None, *, refusal: DomainError | None = None) -> None:
        self.prices = dict(prices or {})
        self.refusal = refusal
        self.priced: list[list[str]] = []
        self.reserved: dict[str, tuple[BusinessLine, list[tuple[str, int]], timedelta]] = {}
        self.reserve_calls = 0

    async def mall_prices(self, sku_ids: Sequence[str]) -> dict[str, MallPrice]:
        self.priced.append(list(sku_ids))
        return {sku_id: self.prices[sku_id] for sku_id in sku_ids if sku_id in self.prices}

    async def reserve(
        self, line: BusinessLine, order_id: str, items: Sequence[tuple[str, int]], *, hold: timedelta
    ) -> None:
        self.reserve_calls += 1
        if self.refusal is not None:
            raise self.refusal
        first = self.reserved.setdefault(order_id, (line, sorted(items), hold))
        if first[1] != sorted(items):  # catalog's RESERVATION_MISMATCH, as the adapter tells it
            raise AlreadyExists("the key was used for other items", reason="IDEMPOTENCY_KEY_REUSED")


class FakeMembership:
    """Membership's IsMember (the MemberCheck port): the adapter answers False when membership is away."""

    def __init__(self, members: Sequence[str] = ()) -> None:
        self.members = set(members)
        self.asked: list[str] = []

    async def is_member(self, user_id: str) -> bool:
        self.asked.append(user_id)
        return user_id in self.members
