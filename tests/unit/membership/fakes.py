"""In-memory stand-ins for membership's unit of work, repository and segmentation port, for unit tests of
the service layer (cosmicpython's fake unit of work). The SQL itself is proven by tests/integration/membership.

The fakes subclass the real classes so that mypy holds every faked method to the real signature; they
never call the real constructors, so a method the fakes do not implement fails loudly (no connection)
instead of passing. A transaction is a snapshot of the tables: leaving it with an error puts the snapshot
back and drops the queued events, as Postgres's rollback would; a commit appends the events to the line's
outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from libs.core import AlreadyExists, BusinessLine, Unavailable, user_line
from libs.events.outbox import OutboxEvent
from services.membership.adapters.repository import MembershipRepository
from services.membership.domain.coupons import CouponBalance
from services.membership.domain.model import Membership, Payment
from services.membership.service_layer.unit_of_work import UnitOfWork
from tests.unit.fake_uow import FakeLineTransaction


@dataclass
class LineTables:
    """One line's schema (membership_mall or membership_pingou)."""

    memberships: dict[str, Membership] = field(default_factory=dict)  # memberships, PRIMARY KEY (user_id)
    payments: dict[str, Payment] = field(default_factory=dict)  # payments, PRIMARY KEY (payment_reference)
    ledgers: dict[tuple[str, date], CouponBalance] = field(default_factory=dict)  # coupon_ledgers (user_id, month)
    coupon_uses: dict[str, CouponBalance] = field(default_factory=dict)  # coupon_uses, PRIMARY KEY (order_id)
    set_aside: set[tuple[str, str]] = field(default_factory=set)  # job_set_aside (job, row)
    outbox: list[OutboxEvent] = field(default_factory=list)


@dataclass
class FakeDatabase:
    """Both lines' schemas and the shared membership_trials schema, as one Postgres database holds them."""

    lines: dict[BusinessLine, LineTables] = field(default_factory=lambda: {line: LineTables() for line in BusinessLine})
    trial_claims: dict[str, str] = field(default_factory=dict)  # trial_claims: account -> payment reference
    payment_references: dict[str, str] = field(default_factory=dict)  # payment_references: reference -> user

    def restore(self, snapshot: FakeDatabase) -> None:
        self.lines, self.trial_claims, self.payment_references = (
            snapshot.lines,
            snapshot.trial_claims,
            snapshot.payment_references,
        )


class FakeMembershipRepository(MembershipRepository):
    def __init__(self, database: FakeDatabase, line: BusinessLine) -> None:  # no connection on purpose
        self._database = database
        self._line = line
        self.locked: list[str] = []

    @property
    def _tables(self) -> LineTables:
        return self._database.lines[self._line]

    async def lock_member(self, user_id: str) -> None:
        self.locked.append(user_id)

    async def membership(self, user_id: str, *, for_update: bool = False) -> Membership | None:
        return self._tables.memberships.get(user_id)

    async def save_membership(self, membership: Membership) -> None:
        # INSERT ... ON CONFLICT (user_id) DO UPDATE SET ..., state = 'active'
        self._tables.memberships[membership.user_id] = replace(membership, expiry_announced=False)

    async def stop_auto_renew(self, user_id: str) -> None:
        current = self._tables.memberships.get(user_id)
        if current is not None:
            self._tables.memberships[user_id] = replace(current, auto_renew=False)

    async def claim_due(self, *, now: datetime, job: str, limit: int) -> list[str]:
        due = [
            m
            for m in self._tables.memberships.values()
            if not m.expiry_announced and m.expires_at <= now and (job, m.user_id) not in self._tables.set_aside
        ]
        return [m.user_id for m in sorted(due, key=lambda m: m.expires_at)[:limit]]

    async def expire(self, user_ids: Sequence[str]) -> list[Membership]:
        expired = []
        for user_id in user_ids:  # WHERE user_id = ANY($1) AND state = 'active' RETURNING ...
            current = self._tables.memberships.get(user_id)
            if current is not None and not current.expiry_announced:
                self._tables.memberships[user_id] = replace(current, expiry_announced=True)
                expired.append(self._tables.memberships[user_id])
        return expired

    async def member_until(self, user_id: str, at: datetime) -> datetime | None:
        mine = [p for p in self._tables.payments.values() if p.order.user_id == user_id]
        covering = next((p for p in mine if p.period.starts_at <= at < p.period.ends_at), None)
        if covering is None:
            return None
        return max(p.period.ends_at for p in mine if p.period.run_started_at == covering.period.run_started_at)

    async def payment(self, reference: str) -> Payment | None:
        return self._tables.payments.get(reference)

    async def add_payment(self, payment: Payment) -> None:
        reference = payment.order.reference
        # payments' PRIMARY KEY, and membership_trials.payment_references' (one reference company-wide).
        if reference in self._tables.payments or reference in self._database.payment_references:
            raise AlreadyExists(f"payment reference {reference} was recorded", reason="PAYMENT_REFERENCE_REUSED")
        assert user_line(payment.order.user_id) is self._line, "a line's payments are its own users'"
        self._tables.payments[reference] = payment
        self._database.payment_references[reference] = payment.order.user_id

    async def claim_trial(self, user_ids: Sequence[str], *, claimed_by: str, reference: str) -> bool:
        # trial_claims' PRIMARY KEY (user_id): one taken claim refuses them all (the statement's savepoint).
        if any(account in self._database.trial_claims for account in user_ids):
            return False
        self._database.trial_claims.update({account: reference for account in user_ids})
        return True

    async def grant_coupons(self, user_id: str, *, month: date, count: int) -> CouponBalance:
        # ON CONFLICT (user_id, month): the month's first grant stands.
        return self._tables.ledgers.setdefault((user_id, month), CouponBalance(user_id, month, count, count))

    async def coupon_ledger(self, user_id: str, *, month: date) -> CouponBalance | None:
        return self._tables.ledgers.get((user_id, month))

    async def spend_coupon(self, user_id: str, *, month: date) -> CouponBalance | None:
        ledger = self._tables.ledgers.get((user_id, month))
        if ledger is None or ledger.remaining <= 0:  # WHERE ... AND remaining > 0
            return None
        self._tables.ledgers[(user_id, month)] = replace(ledger, remaining=ledger.remaining - 1)
        return self._tables.ledgers[(user_id, month)]

    async def coupon_use(self, order_id: str) -> tuple[str, CouponBalance] | None:
        used = self._tables.coupon_uses.get(order_id)
        return None if used is None else (used.user_id, used)

    async def record_coupon_use(self, order_id: str, balance: CouponBalance) -> None:
        if order_id in self._tables.coupon_uses:  # coupon_uses' PRIMARY KEY (order_id)
            raise AlreadyExists(f"order {order_id} used a coupon", reason="ORDER_ID_REUSED")
        # coupon_uses' FOREIGN KEY (user_id, month) REFERENCES coupon_ledgers
        assert (balance.user_id, balance.month) in self._tables.ledgers
        self._tables.coupon_uses[order_id] = balance


class FakeUnitOfWork(FakeLineTransaction, UnitOfWork):
    """One line's unit of work over the fake database; counts its commits and rollbacks."""

    database: FakeDatabase

    def __init__(self, database: FakeDatabase | None = None, line: BusinessLine = BusinessLine.MALL) -> None:
        super().__init__(None, line)
        self.database = database if database is not None else FakeDatabase()
        self.repository = FakeMembershipRepository(self.database, line)
        self.memberships = self.repository
        self.begin()

    @property
    def tables(self) -> LineTables:
        return self.database.lines[self.line]


class FakeLinks:
    """Segmentation's identity links (the LinkedAccounts port); `down` answers as SegmentationLinks does
    when segmentation does not answer."""

    def __init__(self, links: Mapping[str, Iterable[str]] | None = None, *, down: bool = False) -> None:
        self.links = {user: list(accounts) for user, accounts in (links or {}).items()}
        self.down = down
        self.asked: list[str] = []

    async def linked_accounts(self, user_id: str) -> Sequence[str]:
        self.asked.append(user_id)
        if self.down:
            raise Unavailable("segmentation did not answer", reason="SEGMENTATION_UNAVAILABLE")
        return self.links.get(user_id, [])
