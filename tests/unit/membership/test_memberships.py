"""Membership's use cases over a fake unit of work: purchase (trial once per person), renew, cancel
auto-renew, reads and expiry; their refusals, their retries, and that a refusal writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pingou.membership.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import AlreadyExists, BusinessLine, FailedPrecondition, NotFound, Unavailable
from services.membership.domain.model import Membership, PaymentKind, PaymentOrder
from services.membership.domain.plans import Plan
from services.membership.service_layer import memberships
from tests.unit.membership.fakes import FakeDatabase, FakeLinks, FakeUnitOfWork

NOW = datetime(2025, 6, 18, 4, 0, tzinfo=UTC)
USER, OTHER = "mu_1000001", "mu_1000002"
PINGOU_USER = "pu_2000001"
PRICES = {Plan.ANNUAL: 14900, Plan.MONTHLY: 1500, Plan.TRIAL: 0}


def order(
    plan: Plan = Plan.ANNUAL,
    *,
    user: str = USER,
    reference: str = "pay-1",
    kind: PaymentKind = PaymentKind.PURCHASE,
    amount: int | None = None,
    auto_renew: bool = False,
) -> PaymentOrder:
    return PaymentOrder(
        user, kind, plan, reference, PRICES[plan] if amount is None else amount, "CNY", auto_renew=auto_renew
    )


def renewal(plan: Plan = Plan.ANNUAL, *, reference: str = "pay-renew", user: str = USER) -> PaymentOrder:
    return order(plan, user=user, reference=reference, kind=PaymentKind.RENEWAL)


async def pay(uow: FakeUnitOfWork, links: FakeLinks, paid: PaymentOrder) -> Membership:
    if paid.kind is PaymentKind.RENEWAL:
        return await memberships.renew(uow, paid, now=NOW)
    return await memberships.purchase(uow, links, paid, now=NOW)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.MALL)


@pytest.fixture
def links() -> FakeLinks:
    return FakeLinks()


def written(uow: FakeUnitOfWork) -> tuple[int, int, int, int]:
    """(memberships, payments, trial claims, events) stored on the unit of work's line."""
    tables = uow.tables
    return len(tables.memberships), len(tables.payments), len(uow.database.trial_claims), len(tables.outbox)


# --- purchase


async def test_a_purchase_starts_a_membership_now_stores_the_payment_and_announces_it(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    membership = await memberships.purchase(uow, links, order(Plan.ANNUAL, auto_renew=True), now=NOW)

    assert membership == Membership(USER, Plan.ANNUAL, NOW, NOW + timedelta(days=365), auto_renew=True)
    assert uow.tables.memberships[USER] == membership
    assert uow.tables.payments["pay-1"].period.ends_at == NOW + timedelta(days=365)
    assert uow.database.payment_references == {"pay-1": USER}
    (purchased,) = uow.published
    assert purchased == events.MembershipPurchased(
        user_id=USER,
        plan=events.PLAN_ANNUAL,
        starts_at=timestamp(NOW),
        expires_at=timestamp(NOW + timedelta(days=365)),
        payment_reference="pay-1",
        amount_minor=14900,
        currency="CNY",
    )
    (event,) = uow.tables.outbox
    assert (event.topic, event.aggregate_id) == ("mall.membership.v1", USER)
    assert uow.repository.locked == [USER]  # the change ran under the member's lock


async def test_a_paid_purchase_never_asks_segmentation(uow: FakeUnitOfWork) -> None:
    links = FakeLinks(down=True)
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    assert links.asked == []
    assert written(uow) == (1, 1, 0, 1)


@pytest.mark.parametrize(("amount", "currency"), [(14899, "CNY"), (14901, "CNY"), (0, "CNY"), (14900, "USD")])
async def test_a_purchase_not_paying_exactly_the_price_is_refused_and_writes_nothing(
    uow: FakeUnitOfWork, links: FakeLinks, amount: int, currency: str
) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        await memberships.purchase(
            uow, links, replace(order(Plan.ANNUAL), amount_minor=amount, currency=currency), now=NOW
        )
    assert caught.value.reason == "AMOUNT_MISMATCH"
    assert written(uow) == (0, 0, 0, 0)
    assert (uow.commits, uow.rollbacks) == (0, 1)


async def test_a_retried_purchase_answers_the_first_result_and_records_it_once(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    first = await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    again = await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW + timedelta(minutes=5))
    assert again == first
    assert written(uow) == (1, 1, 0, 1)


@pytest.mark.parametrize(
    "reused",
    [
        order(Plan.ANNUAL, user=OTHER),
        order(Plan.MONTHLY),
        order(Plan.ANNUAL, amount=1500),
        renewal(Plan.ANNUAL, reference="pay-1"),
    ],
    ids=["another user", "another plan", "another amount", "a renewal"],
)
async def test_a_payment_reference_reused_for_another_order_is_refused(
    uow: FakeUnitOfWork, links: FakeLinks, reused: PaymentOrder
) -> None:
    await memberships.purchase(uow, links, order(Plan.ANNUAL), now=NOW)
    with pytest.raises(AlreadyExists) as caught:
        await pay(uow, links, reused)
    assert caught.value.reason == "PAYMENT_REFERENCE_REUSED"
    assert written(uow) == (1, 1, 0, 1)


async def test_a_payment_reference_recorded_on_the_other_line_is_refused(links: FakeLinks) -> None:
    database = FakeDatabase()
    mall, pingou = FakeUnitOfWork(database, BusinessLine.MALL), FakeUnitOfWork(database, BusinessLine.PINGOU)
    await memberships.purchase(mall, links, order(Plan.ANNUAL), now=NOW)

    with pytest.raises(AlreadyExists) as caught:
        await memberships.purchase(pingou, links, order(Plan.ANNUAL, user=PINGOU_USER), now=NOW)
    assert caught.value.reason == "PAYMENT_REFERENCE_REUSED"
    assert written(pingou) == (0, 0, 0, 0)
    assert database.payment_references == {"pay-1": USER}


async def test_a_purchase_while_a_membership_runs_is_refused_with_its_expiry(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    with pytest.raises(FailedPrecondition) as caught:
        await memberships.purchase(uow, links, order(Plan.ANNUAL, reference="pay-2"), now=NOW + timedelta(days=29))
    assert caught.value.reason == "ALREADY_MEMBER"
    assert caught.value.metadata == {"expires_at": (NOW + timedelta(days=30)).isoformat()}
    assert written(uow) == (1, 1, 0, 1)
    assert "pay-2" not in uow.database.payment_references


async def test_a_purchase_after_an_unannounced_lapse_announces_the_expiry_then_starts_a_new_run(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    later = NOW + timedelta(days=45)
    membership = await memberships.purchase(uow, links, order(Plan.ANNUAL, reference="pay-2"), now=later)

    assert (membership.started_at, membership.expires_at) == (later, later + timedelta(days=365))
    _, expired, purchased = uow.published
    assert expired == events.MembershipExpired(
        user_id=USER, expired_at=timestamp(NOW + timedelta(days=30)), plan=events.PLAN_MONTHLY
    )
    assert isinstance(purchased, events.MembershipPurchased)
    assert purchased.payment_reference == "pay-2"


async def test_a_purchase_after_the_expiry_job_announced_the_lapse_does_not_announce_it_again(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    await memberships.expire_due(uow, now=NOW + timedelta(days=31), limit=10)
    await memberships.purchase(uow, links, order(Plan.MONTHLY, reference="pay-2"), now=NOW + timedelta(days=45))
    assert [type(event).__name__ for event in uow.published] == [
        "MembershipPurchased",
        "MembershipExpired",
        "MembershipPurchased",
    ]


# --- trials


async def test_a_trial_claims_the_buyer_and_every_linked_account(uow: FakeUnitOfWork) -> None:
    links = FakeLinks({USER: [PINGOU_USER, OTHER]})
    trial = await memberships.purchase(uow, links, order(Plan.TRIAL), now=NOW)
    assert (trial.plan, trial.expires_at) == (Plan.TRIAL, NOW + timedelta(days=30))
    assert uow.database.trial_claims == {USER: "pay-1", PINGOU_USER: "pay-1", OTHER: "pay-1"}
    assert links.asked == [USER]


async def test_a_linked_account_cannot_take_a_second_trial_and_nothing_is_written() -> None:
    database = FakeDatabase()
    mall, pingou = FakeUnitOfWork(database, BusinessLine.MALL), FakeUnitOfWork(database, BusinessLine.PINGOU)
    await memberships.purchase(mall, FakeLinks({USER: [PINGOU_USER]}), order(Plan.TRIAL), now=NOW)

    with pytest.raises(FailedPrecondition) as caught:
        await memberships.purchase(
            pingou, FakeLinks({PINGOU_USER: [USER]}), order(Plan.TRIAL, user=PINGOU_USER, reference="pay-2"), now=NOW
        )
    assert caught.value.reason == "TRIAL_ALREADY_USED"
    assert written(pingou) == (0, 0, 2, 0)
    assert "pay-2" not in database.payment_references


async def test_an_account_takes_the_trial_once_even_after_it_lapsed(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    await memberships.purchase(uow, links, order(Plan.TRIAL), now=NOW)
    with pytest.raises(FailedPrecondition) as caught:
        await memberships.purchase(uow, links, order(Plan.TRIAL, reference="pay-2"), now=NOW + timedelta(days=60))
    assert caught.value.reason == "TRIAL_ALREADY_USED"
    assert written(uow) == (1, 1, 1, 1)


async def test_a_trial_fails_closed_when_segmentation_does_not_answer(uow: FakeUnitOfWork) -> None:
    with pytest.raises(Unavailable) as caught:
        await memberships.purchase(uow, FakeLinks(down=True), order(Plan.TRIAL), now=NOW)
    assert caught.value.reason == "SEGMENTATION_UNAVAILABLE"
    assert written(uow) == (0, 0, 0, 0)


async def test_a_recorded_trial_is_answered_on_retry_without_asking_segmentation(uow: FakeUnitOfWork) -> None:
    first = await memberships.purchase(uow, FakeLinks(), order(Plan.TRIAL), now=NOW)
    links = FakeLinks(down=True)
    again = await memberships.purchase(uow, links, order(Plan.TRIAL), now=NOW + timedelta(seconds=1))
    assert again == first
    assert links.asked == []
    assert written(uow) == (1, 1, 1, 1)


# --- renew


async def test_renewing_a_running_membership_extends_it_from_its_expiry(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY, auto_renew=True), now=NOW)
    expiry = NOW + timedelta(days=30)
    renewed = await memberships.renew(uow, renewal(Plan.ANNUAL), now=NOW + timedelta(days=20))

    assert renewed == Membership(USER, Plan.ANNUAL, NOW, expiry + timedelta(days=365), auto_renew=True)
    assert uow.tables.memberships[USER] == renewed
    assert uow.published[-1] == events.MembershipRenewed(
        user_id=USER,
        plan=events.PLAN_ANNUAL,
        expires_at=timestamp(expiry + timedelta(days=365)),
        payment_reference="pay-renew",
        amount_minor=14900,
        currency="CNY",
        period_starts_at=timestamp(expiry),
    )
    assert uow.repository.locked == [USER, USER]


async def test_renewing_a_lapsed_membership_announces_the_lapse_and_starts_from_now(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.TRIAL), now=NOW)
    later = NOW + timedelta(days=40)
    renewed = await memberships.renew(uow, renewal(Plan.MONTHLY), now=later)

    assert (renewed.plan, renewed.started_at, renewed.expires_at) == (Plan.MONTHLY, later, later + timedelta(days=30))
    _, expired, renewed_event = uow.published
    assert expired == events.MembershipExpired(
        user_id=USER, expired_at=timestamp(NOW + timedelta(days=30)), plan=events.PLAN_TRIAL
    )
    assert isinstance(renewed_event, events.MembershipRenewed)
    assert renewed_event.period_starts_at == timestamp(later)


async def test_renewing_without_a_membership_is_refused_and_writes_nothing(uow: FakeUnitOfWork) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        await memberships.renew(uow, renewal(Plan.ANNUAL), now=NOW)
    assert caught.value.reason == "NOT_A_MEMBER"
    assert written(uow) == (0, 0, 0, 0)
    assert uow.database.payment_references == {}


async def test_a_renewal_not_paying_the_price_is_refused_and_writes_nothing(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    before = uow.tables.memberships[USER]
    with pytest.raises(FailedPrecondition) as caught:
        await memberships.renew(uow, replace(renewal(Plan.MONTHLY), amount_minor=1499), now=NOW)
    assert caught.value.reason == "AMOUNT_MISMATCH"
    assert uow.tables.memberships[USER] == before
    assert written(uow) == (1, 1, 0, 1)


async def test_a_retried_renewal_extends_the_membership_once(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    first = await memberships.renew(uow, renewal(Plan.MONTHLY), now=NOW + timedelta(days=1))
    again = await memberships.renew(uow, renewal(Plan.MONTHLY), now=NOW + timedelta(days=2))
    assert again == first
    assert first.expires_at == NOW + timedelta(days=60)
    assert written(uow) == (1, 2, 0, 2)


# --- cancel auto-renew


async def test_cancelling_auto_renew_records_it_and_announces_it_once(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    await memberships.purchase(uow, links, order(Plan.ANNUAL, auto_renew=True), now=NOW)
    cancelled = await memberships.cancel_auto_renew(uow, USER, now=NOW + timedelta(days=1))
    again = await memberships.cancel_auto_renew(uow, USER, now=NOW + timedelta(days=2))

    assert cancelled == again == replace(uow.tables.memberships[USER], auto_renew=False)
    assert not uow.tables.memberships[USER].auto_renew
    _, announced = uow.published
    assert announced == events.MembershipAutoRenewCancelled(
        user_id=USER, cancelled_at=timestamp(NOW + timedelta(days=1)), expires_at=timestamp(cancelled.expires_at)
    )


async def test_a_renewal_after_cancelling_keeps_auto_renew_off(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    await memberships.purchase(uow, links, order(Plan.ANNUAL, auto_renew=True), now=NOW)
    await memberships.cancel_auto_renew(uow, USER, now=NOW)
    renewed = await memberships.renew(uow, renewal(Plan.ANNUAL), now=NOW + timedelta(days=1))
    assert not renewed.auto_renew


async def test_cancelling_auto_renew_of_no_membership_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        await memberships.cancel_auto_renew(uow, USER, now=NOW)
    assert caught.value.reason == "MEMBERSHIP_NOT_FOUND"
    assert written(uow) == (0, 0, 0, 0)


# --- reads


async def test_get_membership_reads_the_stored_one_or_is_not_found(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    with pytest.raises(NotFound) as caught:
        await memberships.get_membership(uow, USER)
    assert caught.value.reason == "MEMBERSHIP_NOT_FOUND"
    bought = await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    assert await memberships.get_membership(uow, USER) == bought


async def test_member_until_answers_the_end_of_the_uninterrupted_run_covering_the_moment(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    await memberships.renew(uow, renewal(Plan.MONTHLY), now=NOW + timedelta(days=10))
    second_run = NOW + timedelta(days=100)
    await memberships.purchase(uow, links, order(Plan.MONTHLY, reference="pay-3"), now=second_run)

    assert await memberships.member_until(uow, USER, at=NOW + timedelta(days=5)) == NOW + timedelta(days=60)
    assert await memberships.member_until(uow, USER, at=NOW + timedelta(days=45)) == NOW + timedelta(days=60)
    assert await memberships.member_until(uow, USER, at=NOW + timedelta(days=70)) is None  # the gap
    assert await memberships.member_until(uow, USER, at=second_run) == second_run + timedelta(days=30)
    assert await memberships.member_until(uow, OTHER, at=NOW) is None


# --- expiry


async def test_expiry_expires_what_ended_announces_each_with_its_end_and_only_once(
    uow: FakeUnitOfWork, links: FakeLinks
) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    await memberships.purchase(uow, links, order(Plan.ANNUAL, user=OTHER, reference="pay-2"), now=NOW)
    at = NOW + timedelta(days=31)

    settled = await memberships.expire_due(uow, now=at, limit=10)
    again = await memberships.expire_due(uow, now=at, limit=10)

    assert [m.user_id for m in settled.done] == [USER]
    assert (settled.claimed, settled.set_aside, again.claimed) == (1, [], 0)
    assert uow.tables.memberships[USER].expiry_announced
    assert not uow.tables.memberships[OTHER].expiry_announced
    assert uow.published[-1] == events.MembershipExpired(
        user_id=USER, expired_at=timestamp(NOW + timedelta(days=30)), plan=events.PLAN_MONTHLY
    )
    assert len(uow.published) == 3


async def test_expiry_takes_the_earliest_ends_first_up_to_its_limit(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    for number, days_ago in [(1, 40), (2, 60), (3, 50)]:
        user = f"mu_100000{number}"
        await memberships.purchase(uow, links, order(Plan.MONTHLY, user=user, reference=user), now=NOW)
        current = uow.tables.memberships[user]
        uow.tables.memberships[user] = replace(current, expires_at=NOW + timedelta(days=30 - days_ago))

    settled = await memberships.expire_due(uow, now=NOW + timedelta(days=1), limit=2)
    assert [m.user_id for m in settled.done] == ["mu_1000002", "mu_1000003"]


async def test_expiry_skips_a_membership_that_was_set_aside(uow: FakeUnitOfWork, links: FakeLinks) -> None:
    await memberships.purchase(uow, links, order(Plan.MONTHLY), now=NOW)
    uow.tables.set_aside.add((memberships.EXPIRY.name, USER))
    settled = await memberships.expire_due(uow, now=NOW + timedelta(days=31), limit=10)
    assert settled.claimed == 0
    assert not uow.tables.memberships[USER].expiry_announced
