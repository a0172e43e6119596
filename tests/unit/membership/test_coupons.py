"""The free-shipping coupon ledger's use cases over a fake unit of work: the monthly grant, spending one
per order, retries, and the refusals (not a member, none left, an order id of another member)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.core import AlreadyExists, FailedPrecondition
from services.membership.domain.coupons import CouponBalance
from services.membership.domain.model import Membership
from services.membership.domain.plans import Plan
from services.membership.service_layer.coupons import coupons_of, use_coupon
from tests.unit.membership.fakes import FakeUnitOfWork

NOW = datetime(2025, 6, 18, 4, 0, tzinfo=UTC)
JUNE = date(2025, 6, 1)
USER, OTHER = "mu_1000001", "mu_1000002"


def member(uow: FakeUnitOfWork, user_id: str = USER, *, expires: datetime = NOW + timedelta(days=30)) -> None:
    uow.tables.memberships[user_id] = Membership(user_id, Plan.MONTHLY, NOW - timedelta(days=1), expires, False)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def test_a_members_first_look_of_the_month_grants_the_months_coupons(uow: FakeUnitOfWork) -> None:
    member(uow)
    balance = await coupons_of(uow, USER, now=NOW, per_month=5)
    assert balance == CouponBalance(USER, JUNE, granted=5, remaining=5)
    assert uow.tables.ledgers == {(USER, JUNE): balance}


async def test_the_months_grant_is_made_once_whatever_is_asked_later(uow: FakeUnitOfWork) -> None:
    member(uow)
    await coupons_of(uow, USER, now=NOW, per_month=5)
    again = await coupons_of(uow, USER, now=NOW + timedelta(days=1), per_month=8)
    assert again == CouponBalance(USER, JUNE, granted=5, remaining=5)


async def test_months_are_counted_in_china_time(uow: FakeUnitOfWork) -> None:
    member(uow, expires=datetime(2025, 8, 1, tzinfo=UTC))
    balance = await coupons_of(uow, USER, now=datetime(2025, 6, 30, 16, 0, tzinfo=UTC), per_month=5)
    assert balance.month == date(2025, 7, 1)  # midnight in Beijing


@pytest.mark.parametrize("membership", ["none", "lapsed"])
async def test_someone_who_is_not_a_member_now_has_no_coupons_and_none_are_granted(
    uow: FakeUnitOfWork, membership: str
) -> None:
    if membership == "lapsed":
        member(uow, expires=NOW)
    balance = await coupons_of(uow, USER, now=NOW, per_month=5)
    assert balance == CouponBalance(USER, JUNE, granted=0, remaining=0)
    assert uow.tables.ledgers == {}


async def test_using_a_coupon_spends_one_and_records_the_order(uow: FakeUnitOfWork) -> None:
    member(uow)
    balance = await use_coupon(uow, USER, order_id="o-1", now=NOW, per_month=5)
    assert balance == CouponBalance(USER, JUNE, granted=5, remaining=4)
    assert uow.tables.ledgers[(USER, JUNE)] == balance
    assert uow.tables.coupon_uses == {"o-1": balance}
    assert uow.repository.locked == [USER]


async def test_a_retried_use_answers_the_first_balance_and_spends_no_second_coupon(uow: FakeUnitOfWork) -> None:
    member(uow)
    first = await use_coupon(uow, USER, order_id="o-1", now=NOW, per_month=5)
    await use_coupon(uow, USER, order_id="o-2", now=NOW, per_month=5)
    again = await use_coupon(uow, USER, order_id="o-1", now=NOW, per_month=5)
    assert again == first
    assert uow.tables.ledgers[(USER, JUNE)].remaining == 3


async def test_an_order_id_that_used_another_members_coupon_is_refused(uow: FakeUnitOfWork) -> None:
    member(uow)
    member(uow, OTHER)
    await use_coupon(uow, OTHER, order_id="o-1", now=NOW, per_month=5)
    with pytest.raises(AlreadyExists) as caught:
        await use_coupon(uow, USER, order_id="o-1", now=NOW, per_month=5)
    assert caught.value.reason == "ORDER_ID_REUSED"
    assert (USER, JUNE) not in uow.tables.ledgers


@pytest.mark.parametrize("membership", ["none", "lapsed"])
async def test_using_a_coupon_without_a_running_membership_is_refused_and_writes_nothing(
    uow: FakeUnitOfWork, membership: str
) -> None:
    if membership == "lapsed":
        member(uow, expires=NOW - timedelta(seconds=1))
    with pytest.raises(FailedPrecondition) as caught:
        await use_coupon(uow, USER, order_id="o-1", now=NOW, per_month=5)
    assert caught.value.reason == "NOT_A_MEMBER"
    assert (uow.tables.ledgers, uow.tables.coupon_uses) == ({}, {})


async def test_no_coupon_is_spent_past_the_months_grant(uow: FakeUnitOfWork) -> None:
    member(uow)
    for number in range(2):
        await use_coupon(uow, USER, order_id=f"o-{number}", now=NOW, per_month=2)
    with pytest.raises(FailedPrecondition) as caught:
        await use_coupon(uow, USER, order_id="o-late", now=NOW, per_month=2)
    assert caught.value.reason == "NO_COUPONS_LEFT"
    assert uow.tables.ledgers[(USER, JUNE)] == CouponBalance(USER, JUNE, granted=2, remaining=0)
    assert "o-late" not in uow.tables.coupon_uses
    assert uow.rollbacks == 1


async def test_a_new_month_brings_a_new_grant(uow: FakeUnitOfWork) -> None:
    member(uow, expires=datetime(2025, 8, 1, tzinfo=UTC))
    await use_coupon(uow, USER, order_id="o-june", now=NOW, per_month=1)
    july = await use_coupon(uow, USER, order_id="o-july", now=datetime(2025, 7, 2, tzinfo=UTC), per_month=1)
    assert (july.month, july.granted, july.remaining) == (date(2025, 7, 1), 1, 0)
