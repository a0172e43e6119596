"""Use cases of memberships: purchase (trial once per person), renew, cancel auto-renew, read, expire.

Every change of a member runs under that member's lock (`lock_member`), so retries of one payment and
concurrent changes of one membership take turns; the database constraints (payment reference, trial
claims) refuse what the lock cannot see: another member, or a linked account of the other line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from pingou.membership.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import FailedPrecondition, NotFound
from libs.jobs import Job, Settled, settle_together
from services.membership.domain.model import Membership, Payment, PaymentOrder, first_period, renewal_period
from services.membership.domain.plans import PLANS, Plan
from services.membership.service_layer.unit_of_work import MEMBERSHIP_AGGREGATE, UnitOfWork

PLAN_TO_PROTO = {Plan.ANNUAL: events.PLAN_ANNUAL, Plan.MONTHLY: events.PLAN_MONTHLY, Plan.TRIAL: events.PLAN_TRIAL}


class LinkedAccounts(Protocol):
    """The accounts of the same person on any line (segmentation's identity links)."""

    async def linked_accounts(self, user_id: str) -> Sequence[str]: ...


def _announce_lapse(uow: UnitOfWork, current: Membership, now: datetime) -> None:
    """A membership that ended before the expiry job got to it is announced as expired before it is
    bought or renewed again: every uninterrupted run ends with exactly one MembershipExpired."""
    if current.lapsed_unannounced(now):
        uow.publish(
            MEMBERSHIP_AGGREGATE,
            current.user_id,
            events.MembershipExpired(
                user_id=current.user_id, expired_at=timestamp(current.expires_at), plan=PLAN_TO_PROTO[current.plan]
            ),
        )


async def purchase(uow: UnitOfWork, links: LinkedAccounts, order: PaymentOrder, *, now: datetime) -> Membership:
    terms = PLANS[order.plan]
    linked: Sequence[str] = ()
    if order.plan is Plan.TRIAL:
        async with uow:
            recorded = await uow.memberships.payment(order.reference)
        if recorded is None:
            # Asked before the transaction, so no connection or member lock waits on the network. Without
            # the answer a trial cannot be proven to be the person's first: the purchase fails (UNAVAILABLE).
            linked = await links.linked_accounts(order.user_id)
    async with uow:
        repository = uow.memberships
        await repository.lock_member(order.user_id)
        recorded = await repository.payment(order.reference)
        if recorded is not None:
            return recorded.replay(order)
        terms.check_payment(amount_minor=order.amount_minor, currency=order.currency)
        if order.plan is Plan.TRIAL and not await repository.claim_trial(
            [order.user_id, *linked], claimed_by=order.user_id, reference=order.reference
        ):
            raise FailedPrecondition(
                "this person has already had a PLUS trial (on this account or a linked one)",
                reason="TRIAL_ALREADY_USED",
            )
        current = await repository.membership(order.user_id, for_update=True)
        if current is not None and current.active_at(now):
            raise FailedPrecondition(
                f"{order.user_id} is a member until {current.expires_at.isoformat()}; extend it with Renew",
                reason="ALREADY_MEMBER",
                metadata={"expires_at": current.expires_at.isoformat()},
            )
        if current is not None:
            _announce_lapse(uow, current, now)
        payment = Payment(order, first_period(terms, now), auto_renew=order.auto_renew)
        membership = await _record(uow, payment)
        uow.publish(
            MEMBERSHIP_AGGREGATE,
            order.user_id,
            events.MembershipPurchased(
                user_id=order.user_id,
                plan=PLAN_TO_PROTO[order.plan],
                starts_at=timestamp(membership.started_at),
                expires_at=timestamp(membership.expires_at),
                payment_reference=order.reference,
                amount_minor=order.amount_minor,
                currency=order.currency,
            ),
        )
    return membership


async def _record(uow: UnitOfWork, payment: Payment) -> Membership:
    """Store the payment (the idempotency record) and the membership it leads to."""
    await uow.memberships.add_payment(payment)
    membership = payment.membership()
    await uow.memberships.save_membership(membership)
    return membership


async def renew(uow: UnitOfWork, order: PaymentOrder, *, now: datetime) -> Membership:
    terms = PLANS[order.plan]
    async with uow:
        repository = uow.memberships
        await repository.lock_member(order.user_id)
        recorded = await repository.payment(order.reference)
        if recorded is not None:
            return recorded.replay(order)
        terms.check_payment(amount_minor=order.amount_minor, currency=order.currency)
        current = await repository.membership(order.user_id, for_update=True)
        if current is None:
            raise FailedPrecondition(f"{order.user_id} has no membership to renew; use Purchase", reason="NOT_A_MEMBER")
        _announce_lapse(uow, current, now)
        payment = Payment(order, renewal_period(current, terms, now), auto_renew=current.auto_renew)
        membership = await _record(uow, payment)
        uow.publish(
            MEMBERSHIP_AGGREGATE,
            order.user_id,
            events.MembershipRenewed(
                user_id=order.user_id,
                plan=PLAN_TO_PROTO[order.plan],
                expires_at=timestamp(membership.expires_at),
                payment_reference=order.reference,
                amount_minor=order.amount_minor,
                currency=order.currency,
                period_starts_at=timestamp(payment.period.starts_at),
            ),
        )
    return membership


async def cancel_auto_renew(uow: UnitOfWork, user_id: str, *, now: datetime) -> Membership:
    async with uow:
        await uow.memberships.lock_member(user_id)
        current = await _existing(uow, user_id, for_update=True)
        if not current.auto_renew:
            return current  # already off: nothing changes, nothing is announced
        await uow.memberships.stop_auto_renew(user_id)
        uow.publish(
            MEMBERSHIP_AGGREGATE,
            user_id,
            events.MembershipAutoRenewCancelled(
                user_id=user_id, cancelled_at=timestamp(now), expires_at=timestamp(current.expires_at)
            ),
        )
    return replace(current, auto_renew=False)


async def get_membership(uow: UnitOfWork, user_id: str) -> Membership:
    async with uow:
        return await _existing(uow, user_id)


async def member_until(uow: UnitOfWork, user_id: str, *, at: datetime) -> datetime | None:
    """The end of the membership covering `at`, or None when the user is not a member at `at`."""
    async with uow:
        return await uow.memberships.member_until(user_id, at)


EXPIRY = Job("membership", "expiry")


async def expire_due(uow: UnitOfWork, *, now: datetime, limit: int) -> Settled[Membership]:
    """Expires up to `limit` memberships that ended by `now`, announcing each in the same transaction. A
    membership that cannot be expired (its row refused, its data unreadable) is set aside; the others are
    expired."""
    async with uow:
        due = await uow.memberships.claim_due(now=now, job=EXPIRY.name, limit=limit)

        async def expire(user_ids: Sequence[str]) -> list[Membership]:
            expired = await uow.memberships.expire(user_ids)
            for membership in expired:
                uow.publish(
                    MEMBERSHIP_AGGREGATE,
                    membership.user_id,
                    events.MembershipExpired(
                        user_id=membership.user_id,
                        expired_at=timestamp(membership.expires_at),
                        plan=PLAN_TO_PROTO[membership.plan],
                    ),
                )
            return expired

        settled = await settle_together(uow, EXPIRY, due, expire)
    return settled


async def _existing(uow: UnitOfWork, user_id: str, *, for_update: bool = False) -> Membership:
    membership = await uow.memberships.membership(user_id, for_update=for_update)
    if membership is None:
        raise NotFound(f"{user_id} has never been a PLUS member", reason="MEMBERSHIP_NOT_FOUND")
    return membership
