"""Purchases: a confirmed payment of the plan's price starts a membership, once per payment reference."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.core import BusinessLine
from tests.integration.membership.conftest import Plus, status_of

pytestmark = pytest.mark.infra


async def rows_of(plus: Plus, user_id: str) -> tuple[int, int]:
    """(payments, memberships) recorded for the user on the user's line."""
    schema = "membership_pingou" if user_id.startswith("pu_") else "membership_mall"
    payments = await plus.count(f"SELECT count(*) FROM {schema}.payments WHERE user_id = $1", user_id)  # noqa: S608  -- fixed schema names
    memberships = await plus.count(f"SELECT count(*) FROM {schema}.memberships WHERE user_id = $1", user_id)  # noqa: S608
    return payments, memberships


async def test_a_purchase_starts_an_active_membership_and_announces_it(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    before = datetime.now(UTC)
    membership = await plus.buy(user, events.PLAN_ANNUAL, reference="pay-first-annual", auto_renew=True)
    after = datetime.now(UTC)

    started, expires = membership.started_at.ToDatetime(tzinfo=UTC), membership.expires_at.ToDatetime(tzinfo=UTC)
    assert (membership.state, membership.plan, membership.auto_renew) == (
        pb.MEMBERSHIP_STATE_ACTIVE,
        events.PLAN_ANNUAL,
        True,
    )
    assert before <= started <= after
    assert expires - started == timedelta(days=365)
    assert await plus.stub.GetMembership(pb.GetMembershipRequest(user_id=user), metadata=plus.service(user)) == (
        membership
    )
    (purchased,) = await plus.events_of(user)
    assert isinstance(purchased, events.MembershipPurchased)
    assert (purchased.user_id, purchased.plan, purchased.payment_reference) == (
        user,
        events.PLAN_ANNUAL,
        "pay-first-annual",
    )
    assert (purchased.amount_minor, purchased.currency) == (14900, "CNY")
    assert purchased.expires_at == membership.expires_at


async def test_a_purchase_retried_with_the_same_reference_is_recorded_and_announced_once(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    request = plus.purchase_request(user, events.PLAN_MONTHLY)
    first = await plus.stub.Purchase(request, metadata=plus.service(user))
    again = await plus.stub.Purchase(request, metadata=plus.service(user))
    at_once = await asyncio.gather(*(plus.stub.Purchase(request, metadata=plus.service(user)) for _ in range(5)))

    assert all(reply == first for reply in [again, *at_once])
    assert await rows_of(plus, user) == (1, 1)
    purchases = [e for e in await plus.events_of(user) if isinstance(e, events.MembershipPurchased)]
    assert [p.payment_reference for p in purchases] == [request.payment_reference]


async def test_concurrent_first_purchases_with_the_same_reference_record_one_payment(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    request = plus.purchase_request(user, events.PLAN_ANNUAL)
    replies = await asyncio.gather(*(plus.stub.Purchase(request, metadata=plus.service(user)) for _ in range(5)))
    assert len({reply.SerializeToString() for reply in replies}) == 1
    assert await rows_of(plus, user) == (1, 1)
    assert len(await plus.events_of(user)) == 1


@pytest.mark.parametrize(
    "change", ["another user", "a user of the other line", "another plan", "another amount", "a renewal"]
)
async def test_a_reference_reused_for_a_different_order_is_refused_and_writes_nothing(plus: Plus, change: str) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    request = plus.purchase_request(user, events.PLAN_MONTHLY)
    await plus.stub.Purchase(request, metadata=plus.service(user))
    other = await plus.register(BusinessLine.PINGOU)
    mall_user = await plus.register(BusinessLine.MALL)
    counts = (await rows_of(plus, user), await rows_of(plus, other), await rows_of(plus, mall_user))
    reference = request.payment_reference
    retries: dict[str, Callable[[], Awaitable[pb.Membership]]] = {
        "a renewal": lambda: plus.renew(user, events.PLAN_MONTHLY, reference=reference),
        "another user": lambda: plus.buy(other, events.PLAN_MONTHLY, reference=reference),
        "a user of the other line": lambda: plus.buy(mall_user, events.PLAN_MONTHLY, reference=reference),
        "another plan": lambda: plus.buy(user, events.PLAN_ANNUAL, reference=reference),
        "another amount": lambda: plus.buy(user, events.PLAN_MONTHLY, reference=reference, amount=1),
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await retries[change]()
    assert status_of(caught.value) == (grpc.StatusCode.ALREADY_EXISTS, "PAYMENT_REFERENCE_REUSED")
    assert (await rows_of(plus, user), await rows_of(plus, other), await rows_of(plus, mall_user)) == counts


@pytest.mark.parametrize(
    ("plan", "amount", "currency"),
    [
        (events.PLAN_ANNUAL, 1500, "CNY"),
        (events.PLAN_MONTHLY, 1499, "CNY"),
        (events.PLAN_MONTHLY, 1500, "USD"),
        (events.PLAN_TRIAL, 100, "CNY"),
    ],
)
async def test_a_payment_that_is_not_the_plans_price_is_refused_and_writes_nothing(
    plus: Plus, plan: events.Plan.ValueType, amount: int, currency: str
) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    request = plus.purchase_request(user, plan, amount=amount)
    request.currency = currency
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.stub.Purchase(request, metadata=plus.service(user))
    assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "AMOUNT_MISMATCH")
    assert await rows_of(plus, user) == (0, 0)
    assert await plus.count("SELECT count(*) FROM membership_trials.trial_claims WHERE claimed_by = $1", user) == 0


async def test_buying_while_a_membership_runs_is_refused_in_favour_of_renew(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    await plus.buy(user, events.PLAN_MONTHLY)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.buy(user, events.PLAN_ANNUAL)
    assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "ALREADY_MEMBER")
    assert await rows_of(plus, user) == (1, 1)


async def test_a_lapsed_member_buys_again_and_the_lapse_is_announced_once(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    first = await plus.buy(user, events.PLAN_MONTHLY)
    await plus.move_back(user, timedelta(days=45))  # ended 15 days ago; the expiry job may or may not see it first
    again = await plus.buy(user, events.PLAN_ANNUAL)
    assert again.state == pb.MEMBERSHIP_STATE_ACTIVE
    assert again.started_at.ToDatetime(tzinfo=UTC) > first.started_at.ToDatetime(tzinfo=UTC)
    kinds = [type(event).__name__ for event in await plus.events_of(user)]
    assert kinds == ["MembershipPurchased", "MembershipExpired", "MembershipPurchased"]
