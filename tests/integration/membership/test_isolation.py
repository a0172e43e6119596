"""Flow 7 for PLUS: a token of one line can neither read nor change a membership of the other line, on
any RPC; within a line, users reach only their own membership, and only the backend buys."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb
from structlog.testing import capture_logs

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.membership.conftest import Plus, status_of

pytestmark = pytest.mark.infra

PEOPLE_ROLES = (Role.OPERATOR, Role.ANALYTICS, Role.USER)
Call = Callable[[Plus, str, list[tuple[str, str]]], Awaitable[object]]


def reference() -> str:
    return f"x-{uuid.uuid4().hex}"


# Every RPC, aimed at `target` with the other line's token.
CALLS: dict[str, Call] = {
    "Purchase": lambda p, target, md: p.stub.Purchase(
        pb.PurchaseRequest(user_id=target, plan=events.PLAN_TRIAL, payment_reference=reference(), currency="CNY"),
        metadata=md,
    ),
    "Renew": lambda p, target, md: p.stub.Renew(
        pb.RenewRequest(
            user_id=target,
            plan=events.PLAN_MONTHLY,
            payment_reference=reference(),
            amount_paid_minor=1500,
            currency="CNY",
        ),
        metadata=md,
    ),
    "CancelAutoRenew": lambda p, target, md: p.stub.CancelAutoRenew(
        pb.CancelAutoRenewRequest(user_id=target), metadata=md
    ),
    "GetMembership": lambda p, target, md: p.stub.GetMembership(pb.GetMembershipRequest(user_id=target), metadata=md),
    "IsMember": lambda p, target, md: p.stub.IsMember(pb.IsMemberRequest(user_id=target), metadata=md),
    "GetCoupons": lambda p, target, md: p.stub.GetCoupons(pb.GetCouponsRequest(user_id=target), metadata=md),
    "UseCoupon": lambda p, target, md: p.stub.UseCoupon(
        pb.UseCouponRequest(user_id=target, order_id=f"o-{uuid.uuid4().hex}"), metadata=md
    ),
}


def other(line: BusinessLine) -> BusinessLine:
    return BusinessLine.MALL if line is BusinessLine.PINGOU else BusinessLine.PINGOU


def test_every_rpc_is_covered() -> None:
    assert set(CALLS) == {method.name for method in pb.DESCRIPTOR.services_by_name["MembershipService"].methods}


@pytest.mark.parametrize("target_line", list(BusinessLine))
@pytest.mark.parametrize("rpc", sorted(CALLS))
async def test_a_token_of_the_other_line_is_denied_logged_and_changes_nothing(
    plus: Plus, rpc: str, target_line: BusinessLine
) -> None:
    target = await plus.register(target_line)
    await plus.buy(target, events.PLAN_MONTHLY, auto_renew=True)
    before = await plus.row_counts()
    # No key signs people's roles and the service role together: one intruder of each kind.
    for subject, roles in (("intruder", PEOPLE_ROLES), ("payments", (Role.SERVICE,))):
        intruder = plus.token(other(target_line), *roles, subject=subject)
        with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as caught:
            await CALLS[rpc](plus, target, intruder)
        assert status_of(caught.value) == (grpc.StatusCode.PERMISSION_DENIED, "LINE_MISMATCH")
        assert any(line["event"] == "cross_line_access_denied" and line["subject"] == subject for line in logs)
    assert await plus.row_counts() == before


async def test_a_user_reads_their_own_membership_but_not_anothers_and_never_buys(plus: Plus) -> None:
    me = await plus.register(BusinessLine.PINGOU)
    someone = await plus.register(BusinessLine.PINGOU)
    for user in (me, someone):
        await plus.buy(user, events.PLAN_MONTHLY)
    mine = plus.token(BusinessLine.PINGOU, Role.USER, subject=me)
    assert (await plus.stub.GetMembership(pb.GetMembershipRequest(user_id=me), metadata=mine)).user_id == me
    assert (await plus.stub.IsMember(pb.IsMemberRequest(user_id=me), metadata=mine)).member is True
    refused: list[Callable[[], Awaitable[object]]] = [
        lambda: plus.stub.GetMembership(pb.GetMembershipRequest(user_id=someone), metadata=mine),
        lambda: plus.stub.Renew(
            pb.RenewRequest(
                user_id=me,
                plan=events.PLAN_MONTHLY,
                payment_reference=reference(),
                amount_paid_minor=1500,
                currency="CNY",
            ),
            metadata=mine,
        ),
        lambda: plus.stub.UseCoupon(pb.UseCouponRequest(user_id=me, order_id="o-self"), metadata=mine),
    ]
    for call in refused:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert status_of(caught.value) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
