"""Renewal extends from the current expiry while a membership runs and from now once it lapsed; auto-renew
can be cancelled, once and for all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.membership.conftest import Plus, status_of

pytestmark = pytest.mark.infra


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def expiry(membership: pb.Membership) -> datetime:
    return membership.expires_at.ToDatetime(tzinfo=UTC)


async def test_renewing_a_running_membership_extends_from_its_expiry(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    trial = await plus.buy(user, events.PLAN_TRIAL)
    renewed = await plus.renew(user, events.PLAN_ANNUAL, reference="renew-running")
    assert expiry(renewed) == expiry(trial) + timedelta(days=365)
    assert (renewed.started_at, renewed.plan) == (trial.started_at, events.PLAN_ANNUAL)
    again = await plus.renew(user, events.PLAN_MONTHLY)
    assert expiry(again) == expiry(renewed) + timedelta(days=30)

    _, first, second = await plus.events_of(user)
    assert isinstance(first, events.MembershipRenewed)
    assert isinstance(second, events.MembershipRenewed)
    assert (first.period_starts_at, first.expires_at) == (trial.expires_at, renewed.expires_at)
    assert (first.payment_reference, first.amount_minor, first.currency) == ("renew-running", 14900, "CNY")
    assert second.expires_at == again.expires_at


async def test_renewing_a_lapsed_membership_starts_from_now_and_leaves_the_gap_uncovered(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    bought = await plus.buy(user, events.PLAN_MONTHLY)
    await plus.move_back(user, timedelta(days=40))  # it ended ten days ago
    old_expiry = expiry(bought) - timedelta(days=40)
    before = datetime.now(UTC)
    renewed = await plus.renew(user, events.PLAN_MONTHLY)
    after = datetime.now(UTC)

    started = renewed.started_at.ToDatetime(tzinfo=UTC)
    assert before <= started <= after
    assert expiry(renewed) == started + timedelta(days=30)
    service = plus.service(user)
    in_old = await plus.stub.IsMember(
        pb.IsMemberRequest(user_id=user, at=at(old_expiry - timedelta(days=1))), metadata=service
    )
    assert (in_old.member, in_old.expires_at.ToDatetime(tzinfo=UTC)) == (True, old_expiry)
    in_gap = await plus.stub.IsMember(pb.IsMemberRequest(user_id=user, at=at(old_expiry)), metadata=service)
    assert in_gap.member is False
    now = await plus.stub.IsMember(pb.IsMemberRequest(user_id=user), metadata=service)
    assert (now.member, now.expires_at) == (True, renewed.expires_at)
    # The lapse is announced once, by the expiry job or by the renewal, whichever came first.
    kinds = [type(event).__name__ for event in await plus.events_of(user)]
    assert kinds == ["MembershipPurchased", "MembershipExpired", "MembershipRenewed"]


async def test_a_renewal_retried_with_its_reference_extends_once(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    bought = await plus.buy(user, events.PLAN_MONTHLY)
    replies = await asyncio.gather(*(plus.renew(user, events.PLAN_MONTHLY, reference=f"r-{user}") for _ in range(5)))
    replies.append(await plus.renew(user, events.PLAN_MONTHLY, reference=f"r-{user}"))
    assert all(reply == replies[0] for reply in replies)
    assert expiry(replies[0]) == expiry(bought) + timedelta(days=30)
    assert await plus.count("SELECT count(*) FROM membership_pingou.payments WHERE user_id = $1", user) == 2
    assert [type(event).__name__ for event in await plus.events_of(user)] == [
        "MembershipPurchased",
        "MembershipRenewed",
    ]


async def test_renewing_without_a_membership_is_refused_and_writes_nothing(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.renew(user, events.PLAN_ANNUAL)
    assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_A_MEMBER")
    assert await plus.count("SELECT count(*) FROM membership_pingou.payments WHERE user_id = $1", user) == 0


async def test_the_member_cancels_auto_renew_once_and_for_all(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    bought = await plus.buy(user, events.PLAN_MONTHLY, auto_renew=True)
    assert bought.auto_renew is True
    own = plus.token(BusinessLine.PINGOU, Role.USER, subject=user)
    first = await plus.stub.CancelAutoRenew(pb.CancelAutoRenewRequest(user_id=user), metadata=own)
    second = await plus.stub.CancelAutoRenew(pb.CancelAutoRenewRequest(user_id=user), metadata=plus.service(user))
    assert first == second
    assert (first.auto_renew, first.expires_at, first.state) == (False, bought.expires_at, pb.MEMBERSHIP_STATE_ACTIVE)
    _, cancelled = await plus.events_of(user)
    assert isinstance(cancelled, events.MembershipAutoRenewCancelled)
    assert cancelled.expires_at == bought.expires_at
    # Renewing (a manual payment) keeps it off.
    assert (await plus.renew(user)).auto_renew is False


async def test_cancelling_auto_renew_without_a_membership_is_not_found(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.stub.CancelAutoRenew(pb.CancelAutoRenewRequest(user_id=user), metadata=plus.service(user))
    assert status_of(caught.value) == (grpc.StatusCode.NOT_FOUND, "MEMBERSHIP_NOT_FOUND")
