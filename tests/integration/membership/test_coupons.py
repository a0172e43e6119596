"""The free-shipping coupon ledger: granted once per member and month, spent once per order, never below
zero however many orders spend at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from services.membership.domain.coupons import coupon_month
from tests.integration.membership.conftest import Plus, status_of

pytestmark = pytest.mark.infra
PER_MONTH = 5  # the service's default COUPONS_PER_MONTH


async def use(plus: Plus, user_id: str, order_id: str) -> pb.CouponBalance:
    balance: pb.CouponBalance = await plus.stub.UseCoupon(
        pb.UseCouponRequest(user_id=user_id, order_id=order_id), metadata=plus.service(user_id)
    )
    return balance


async def ledger(plus: Plus, user_id: str) -> list[tuple[int, int]]:
    rows = await plus.fetch("SELECT granted, remaining FROM membership_mall.coupon_ledgers WHERE user_id = $1", user_id)
    return [(row["granted"], row["remaining"]) for row in rows]


async def test_a_member_is_granted_the_months_coupons_once(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    await plus.buy(user, events.PLAN_ANNUAL)
    own = plus.token(BusinessLine.MALL, Role.USER, subject=user)
    request = pb.GetCouponsRequest(user_id=user)
    balances = await asyncio.gather(*(plus.stub.GetCoupons(request, metadata=own) for _ in range(5)))
    month = coupon_month(datetime.now(UTC)).strftime("%Y-%m")
    assert {(b.user_id, b.month, b.granted, b.remaining) for b in balances} == {(user, month, PER_MONTH, PER_MONTH)}
    assert await ledger(plus, user) == [(PER_MONTH, PER_MONTH)]


async def test_a_new_month_brings_a_new_grant(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    await plus.buy(user, events.PLAN_ANNUAL)
    this_month = coupon_month(datetime.now(UTC))
    last_month = coupon_month(datetime.combine(this_month, datetime.min.time(), UTC) - timedelta(days=1))
    await plus.fetch(
        "INSERT INTO membership_mall.coupon_ledgers (user_id, month, granted, remaining) VALUES ($1, $2, 5, 0)",
        user,
        last_month,
    )
    balance = await plus.stub.GetCoupons(pb.GetCouponsRequest(user_id=user), metadata=plus.service(user))
    assert (balance.month, balance.remaining) == (this_month.strftime("%Y-%m"), PER_MONTH)
    assert sorted(await ledger(plus, user)) == [(PER_MONTH, 0), (PER_MONTH, PER_MONTH)]


async def test_someone_who_is_not_a_member_has_no_coupons_and_cannot_use_one(plus: Plus) -> None:
    never = await plus.register(BusinessLine.MALL)
    lapsed = await plus.register(BusinessLine.MALL)
    await plus.buy(lapsed, events.PLAN_MONTHLY)
    await plus.move_back(lapsed, timedelta(days=31))
    for user in (never, lapsed):
        balance = await plus.stub.GetCoupons(pb.GetCouponsRequest(user_id=user), metadata=plus.service(user))
        assert (balance.granted, balance.remaining) == (0, 0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await use(plus, user, f"order-{user}")
        assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_A_MEMBER")
        assert await ledger(plus, user) == []
    assert (
        await plus.count("SELECT count(*) FROM membership_mall.coupon_uses WHERE user_id IN ($1, $2)", never, lapsed)
        == 0
    )


async def test_orders_spending_coupons_at_once_never_take_the_balance_below_zero(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    await plus.buy(user, events.PLAN_MONTHLY)
    outcomes = await asyncio.gather(*(use(plus, user, f"o-{user}-{n}") for n in range(12)), return_exceptions=True)
    spent = [outcome for outcome in outcomes if isinstance(outcome, pb.CouponBalance)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert sorted(balance.remaining for balance in spent) == [0, 1, 2, 3, 4]
    assert {status_of(error) for error in refused} == {(grpc.StatusCode.FAILED_PRECONDITION, "NO_COUPONS_LEFT")}
    assert len(refused) == 7
    assert await ledger(plus, user) == [(PER_MONTH, 0)]
    assert await plus.count("SELECT count(*) FROM membership_mall.coupon_uses WHERE user_id = $1", user) == 5


async def test_an_order_spends_one_coupon_however_often_it_asks(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    other = await plus.register(BusinessLine.MALL)
    for member in (user, other):
        await plus.buy(member, events.PLAN_MONTHLY)
    order = f"order-{user}"
    first = await use(plus, user, order)
    again = await asyncio.gather(*(use(plus, user, order) for _ in range(4)))
    assert all(reply == first for reply in again)
    assert first.remaining == PER_MONTH - 1
    assert await ledger(plus, user) == [(PER_MONTH, PER_MONTH - 1)]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await use(plus, other, order)
    assert status_of(caught.value) == (grpc.StatusCode.ALREADY_EXISTS, "ORDER_ID_REUSED")
    assert await ledger(plus, other) == []
