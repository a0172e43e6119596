"""Membership's domain rules, without infrastructure: plans, renewal arithmetic, replays, coupon months."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from libs.core import AlreadyExists, FailedPrecondition
from services.membership.domain.coupons import CouponBalance, coupon_month
from services.membership.domain.model import (
    Membership,
    Payment,
    PaymentKind,
    PaymentOrder,
    first_period,
    renewal_period,
)
from services.membership.domain.plans import CURRENCY, PLANS, Plan

NOW = datetime(2025, 6, 18, 4, 0, tzinfo=UTC)  # 618, noon in Beijing


def membership(*, started: datetime, expires: datetime, announced: bool = False) -> Membership:
    return Membership("mu_1000001", Plan.MONTHLY, started, expires, auto_renew=True, expiry_announced=announced)


def test_the_plans_periods_and_prices() -> None:
    terms = {plan: (t.period, t.price_minor, t.renewable) for plan, t in PLANS.items()}
    assert terms == {
        Plan.ANNUAL: (timedelta(days=365), 14900, True),
        Plan.MONTHLY: (timedelta(days=30), 1500, True),
        Plan.TRIAL: (timedelta(days=30), 0, False),
    }


@pytest.mark.parametrize(("plan", "amount", "currency"), [(Plan.ANNUAL, 14900, "CNY"), (Plan.TRIAL, 0, "CNY")])
def test_a_payment_of_exactly_the_price_is_accepted(plan: Plan, amount: int, currency: str) -> None:
    PLANS[plan].check_payment(amount_minor=amount, currency=currency)


@pytest.mark.parametrize(
    ("plan", "amount", "currency"),
    [(Plan.ANNUAL, 14899, "CNY"), (Plan.ANNUAL, 14901, "CNY"), (Plan.MONTHLY, 1500, "USD"), (Plan.TRIAL, 1, CURRENCY)],
)
def test_any_other_payment_is_an_amount_mismatch(plan: Plan, amount: int, currency: str) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        PLANS[plan].check_payment(amount_minor=amount, currency=currency)
    assert caught.value.reason == "AMOUNT_MISMATCH"


def test_a_first_period_starts_now() -> None:
    period = first_period(PLANS[Plan.ANNUAL], NOW)
    assert (period.run_started_at, period.starts_at, period.ends_at) == (NOW, NOW, NOW + timedelta(days=365))


def test_renewing_a_running_membership_extends_from_its_expiry_within_the_same_run() -> None:
    started, expires = NOW - timedelta(days=20), NOW + timedelta(days=10)
    period = renewal_period(membership(started=started, expires=expires), PLANS[Plan.ANNUAL], NOW)
    assert (period.run_started_at, period.starts_at, period.ends_at) == (
        started,
        expires,
        expires + timedelta(days=365),
    )


@pytest.mark.parametrize("lapsed_for", [timedelta(0), timedelta(microseconds=1), timedelta(days=90)])
def test_renewing_a_lapsed_membership_starts_a_new_run_now(lapsed_for: timedelta) -> None:
    current = membership(started=NOW - timedelta(days=60), expires=NOW - lapsed_for)
    period = renewal_period(current, PLANS[Plan.MONTHLY], NOW)
    assert (period.run_started_at, period.starts_at, period.ends_at) == (NOW, NOW, NOW + timedelta(days=30))


def test_a_membership_runs_until_just_before_its_expiry() -> None:
    current = membership(started=NOW - timedelta(days=1), expires=NOW)
    assert current.active_at(NOW - timedelta(microseconds=1))
    assert not current.active_at(NOW)


def test_an_ended_membership_is_to_be_announced_until_the_job_did() -> None:
    ended = membership(started=NOW - timedelta(days=31), expires=NOW - timedelta(days=1))
    assert ended.lapsed_unannounced(NOW)
    assert not replace(ended, expiry_announced=True).lapsed_unannounced(NOW)
    assert not membership(started=NOW, expires=NOW + timedelta(days=1)).lapsed_unannounced(NOW)


ORDER = PaymentOrder("pu_1000001", PaymentKind.PURCHASE, Plan.MONTHLY, "pay-1", 1500, "CNY", auto_renew=True)


def test_a_retried_order_gets_the_membership_its_payment_left() -> None:
    payment = Payment(ORDER, first_period(PLANS[Plan.MONTHLY], NOW), auto_renew=True)
    replayed = payment.replay(replace(ORDER, auto_renew=False))  # a flag is not part of what was charged
    assert replayed == Membership("pu_1000001", Plan.MONTHLY, NOW, NOW + timedelta(days=30), auto_renew=True)


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "pu_1000002"},
        {"kind": PaymentKind.RENEWAL},
        {"plan": Plan.ANNUAL},
        {"amount_minor": 1},
        {"currency": "USD"},
    ],
)
def test_the_same_reference_for_a_different_order_is_refused(change: dict[str, object]) -> None:
    payment = Payment(ORDER, first_period(PLANS[Plan.MONTHLY], NOW), auto_renew=True)
    with pytest.raises(AlreadyExists) as caught:
        payment.replay(replace(ORDER, **change))  # type: ignore[arg-type]  # fields of PaymentOrder, by name
    assert caught.value.reason == "PAYMENT_REFERENCE_REUSED"


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (datetime(2024, 1, 31, 15, 59, 59, tzinfo=UTC), date(2024, 1, 1)),
        (datetime(2024, 1, 31, 16, 0, tzinfo=UTC), date(2024, 2, 1)),  # midnight in Shanghai
        (datetime(2023, 12, 31, 16, 0, tzinfo=UTC), date(2024, 1, 1)),  # a new year in China first
        (datetime(2024, 2, 29, 16, 0, tzinfo=UTC), date(2024, 3, 1)),  # after a leap day
        (datetime(2024, 3, 1, 0, 0, tzinfo=UTC), date(2024, 3, 1)),
    ],
)
def test_coupon_months_are_calendar_months_in_shanghai(moment: datetime, month: date) -> None:
    assert coupon_month(moment) == month


def test_a_balance_names_its_month() -> None:
    assert CouponBalance("mu_1", date(2025, 6, 1), 5, 2).month_label == "2025-06"
