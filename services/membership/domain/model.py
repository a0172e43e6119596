"""Memberships, the periods payments buy, and the renewal arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from libs.core import AlreadyExists
from services.membership.domain.plans import Plan, PlanTerms


class PaymentKind(StrEnum):
    PURCHASE = "purchase"
    RENEWAL = "renewal"


@dataclass(frozen=True, slots=True)
class Period:
    """What one payment bought: [starts_at, ends_at), inside the uninterrupted run begun at run_started_at."""

    run_started_at: datetime
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    user_id: str
    plan: Plan  # of the latest purchase or renewal
    started_at: datetime  # start of the current uninterrupted run
    expires_at: datetime
    auto_renew: bool
    expiry_announced: bool = False  # MembershipExpired was published for this run (state 'expired' in the table)

    def active_at(self, now: datetime) -> bool:
        """Whether this, the member's current membership, runs at `now`. Its start is not compared: a
        purchase that committed a moment ago may carry a start a little after a `now` read before it."""
        return now < self.expires_at

    def lapsed_unannounced(self, now: datetime) -> bool:
        """Ended, but the expiry job has not announced it yet: the next change announces it first."""
        return not self.expiry_announced and self.expires_at <= now


def first_period(terms: PlanTerms, now: datetime) -> Period:
    return Period(run_started_at=now, starts_at=now, ends_at=now + terms.period)


def renewal_period(current: Membership, terms: PlanTerms, now: datetime) -> Period:
    """Renewing extends from the current expiry while the membership runs (no day is lost or given
    twice), and from now once it has lapsed (the gap is not paid for, and not covered)."""
    if current.expires_at > now:
        return Period(current.started_at, current.expires_at, current.expires_at + terms.period)
    return first_period(terms, now)


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """A purchase or renewal as the checkout asked for it."""

    user_id: str
    kind: PaymentKind
    plan: Plan
    reference: str
    amount_minor: int
    currency: str
    auto_renew: bool = False


@dataclass(frozen=True, slots=True)
class Payment:
    """A recorded payment and the membership it left behind: the answer to every retry of its order."""

    order: PaymentOrder
    period: Period
    auto_renew: bool

    def membership(self) -> Membership:
        return Membership(
            user_id=self.order.user_id,
            plan=self.order.plan,
            started_at=self.period.run_started_at,
            expires_at=self.period.ends_at,
            auto_renew=self.auto_renew,
        )

    def replay(self, order: PaymentOrder) -> Membership:
        """The first result for a retry of the same order; a different order with the same reference is
        refused (the provider never issues one reference twice, so it is a checkout bug or an attack)."""
        mine, theirs = self.order, order
        same = (mine.user_id, mine.kind, mine.plan, mine.amount_minor, mine.currency) == (
            theirs.user_id,
            theirs.kind,
            theirs.plan,
            theirs.amount_minor,
            theirs.currency,
        )
        if not same:
            raise AlreadyExists(
                f"payment reference {order.reference} was already recorded for another order",
                reason="PAYMENT_REFERENCE_REUSED",
            )
        return self.membership()
