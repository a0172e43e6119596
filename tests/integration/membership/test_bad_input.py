"""Bad input gets INVALID_ARGUMENT naming every offending field, before anything is read or written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.membership.conftest import Plus, status_of

pytestmark = pytest.mark.infra
USER = "pu_1000001"
LONG = "x" * 65


def fields_of(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            return [violation.field for violation in bad_request.field_violations]
    return []


def at(year: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(year, 1, 1, tzinfo=UTC))
    return stamp


def purchase(**fields: object) -> pb.PurchaseRequest:
    request = pb.PurchaseRequest(
        user_id=USER, plan=events.PLAN_MONTHLY, payment_reference="pay-1", amount_paid_minor=1500, currency="CNY"
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def renew(**fields: object) -> pb.RenewRequest:
    request = pb.RenewRequest(
        user_id=USER, plan=events.PLAN_MONTHLY, payment_reference="pay-2", amount_paid_minor=1500, currency="CNY"
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


Case = Callable[[Plus, list[tuple[str, str]]], Awaitable[object]]

CASES: dict[str, tuple[Case, list[str]]] = {
    "Purchase: nothing": (
        lambda p, md: p.stub.Purchase(pb.PurchaseRequest(), metadata=md),
        ["user_id", "plan", "payment_reference", "currency"],
    ),
    "Purchase: a malformed user id": (
        lambda p, md: p.stub.Purchase(purchase(user_id="pu_abc"), metadata=md),
        ["user_id"],
    ),
    "Purchase: an unknown plan": (lambda p, md: p.stub.Purchase(purchase(plan=9), metadata=md), ["plan"]),
    "Purchase: a reference holding spaces": (
        lambda p, md: p.stub.Purchase(purchase(payment_reference="pay 1"), metadata=md),
        ["payment_reference"],
    ),
    "Purchase: a reference too long": (
        lambda p, md: p.stub.Purchase(purchase(payment_reference=LONG), metadata=md),
        ["payment_reference"],
    ),
    "Purchase: a negative amount": (
        lambda p, md: p.stub.Purchase(purchase(amount_paid_minor=-1500), metadata=md),
        ["amount_paid_minor"],
    ),
    "Purchase: a lower-case currency": (
        lambda p, md: p.stub.Purchase(purchase(currency="cny"), metadata=md),
        ["currency"],
    ),
    "Purchase: a trial with auto-renew": (
        lambda p, md: p.stub.Purchase(
            purchase(plan=events.PLAN_TRIAL, amount_paid_minor=0, auto_renew=True), metadata=md
        ),
        ["auto_renew"],
    ),
    "Renew: nothing": (
        lambda p, md: p.stub.Renew(pb.RenewRequest(), metadata=md),
        ["user_id", "plan", "payment_reference", "currency"],
    ),
    "Renew: into a trial": (lambda p, md: p.stub.Renew(renew(plan=events.PLAN_TRIAL), metadata=md), ["plan"]),
    "Renew: an unknown plan": (lambda p, md: p.stub.Renew(renew(plan=7), metadata=md), ["plan"]),
    "CancelAutoRenew: no user": (
        lambda p, md: p.stub.CancelAutoRenew(pb.CancelAutoRenewRequest(), metadata=md),
        ["user_id"],
    ),
    "GetMembership: a malformed user id": (
        lambda p, md: p.stub.GetMembership(pb.GetMembershipRequest(user_id="mu_0"), metadata=md),
        ["user_id"],
    ),
    "IsMember: long ago": (
        lambda p, md: p.stub.IsMember(pb.IsMemberRequest(user_id=USER, at=at(1990)), metadata=md),
        ["at"],
    ),
    "IsMember: far ahead, for no user": (
        lambda p, md: p.stub.IsMember(pb.IsMemberRequest(user_id="x", at=at(2200)), metadata=md),
        ["user_id", "at"],
    ),
    "GetCoupons: no user": (lambda p, md: p.stub.GetCoupons(pb.GetCouponsRequest(), metadata=md), ["user_id"]),
    "UseCoupon: no order": (
        lambda p, md: p.stub.UseCoupon(pb.UseCouponRequest(user_id=USER), metadata=md),
        ["order_id"],
    ),
    "UseCoupon: an order id too long, a user id too short": (
        lambda p, md: p.stub.UseCoupon(pb.UseCouponRequest(user_id="pu", order_id=LONG), metadata=md),
        ["user_id", "order_id"],
    ),
}


def test_every_rpc_has_a_bad_input_case() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name["MembershipService"].methods}
    assert {case.split(":")[0] for case in CASES} == methods


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_input_is_invalid_argument_naming_the_fields_and_writes_nothing(plus: Plus, case: str) -> None:
    call, fields = CASES[case]
    before = await plus.row_counts()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(plus, plus.token(BusinessLine.PINGOU, Role.OPERATOR))
    assert status_of(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert set(fields_of(caught.value)) == set(fields)
    assert await plus.row_counts() == before
