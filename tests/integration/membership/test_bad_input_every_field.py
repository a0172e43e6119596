"""Every field of every membership RPC, with each kind of bad value (tests/support/bad_input.py): refused at
the edge as INVALID_ARGUMENT naming the field, writing nothing; never UNKNOWN or INTERNAL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.convert import timestamp
from libs.core import BusinessLine
from services.membership.entrypoints.validation import SERVICE
from tests.integration.membership.conftest import Plus, price_of
from tests.support.bad_input import Good, Rpc, check_rpc

pytestmark = pytest.mark.infra
EMPTY = ("empty",)

Table = Callable[[Plus, str], Rpc]


def new_reference(request: pb.PurchaseRequest | pb.RenewRequest) -> None:
    request.payment_reference = f"pay-{uuid.uuid4().hex}"


def _user_only(
    method: str, message: type[pb.GetMembershipRequest | pb.CancelAutoRenewRequest | pb.GetCouponsRequest]
) -> Table:
    return lambda p, user: Rpc(getattr(p.stub, method), [Good(message(user_id=user), p.service(user))])


TABLES: dict[str, Table] = {
    "Purchase": lambda p, user: Rpc(
        p.stub.Purchase,
        [Good(p.purchase_request(user, events.PLAN_MONTHLY, auto_renew=True), p.service(user))],
        {"amount_paid_minor": EMPTY},  # a shape the edge accepts; the plan's price decides
        renew=new_reference,
    ),
    "Renew": lambda p, user: Rpc(
        p.stub.Renew,
        [
            Good(
                pb.RenewRequest(
                    user_id=user,
                    plan=events.PLAN_MONTHLY,
                    payment_reference=f"pay-{uuid.uuid4().hex}",
                    amount_paid_minor=price_of(events.PLAN_MONTHLY),
                    currency="CNY",
                ),
                p.service(user),
            )
        ],
        {"amount_paid_minor": EMPTY},
        renew=new_reference,
    ),
    "CancelAutoRenew": _user_only("CancelAutoRenew", pb.CancelAutoRenewRequest),
    "GetMembership": _user_only("GetMembership", pb.GetMembershipRequest),
    "IsMember": lambda p, user: Rpc(
        p.stub.IsMember,
        [Good(pb.IsMemberRequest(user_id=user, at=timestamp(datetime.now(UTC))), p.service(user))],
        # Unset is now; 2**31 seconds is a moment of 2038; whole seconds are fine.
        {"at": EMPTY, "at.seconds": ("2**31",), "at.nanos": EMPTY},
    ),
    "GetCoupons": _user_only("GetCoupons", pb.GetCouponsRequest),
    "UseCoupon": lambda p, user: Rpc(
        p.stub.UseCoupon, [Good(pb.UseCouponRequest(user_id=user, order_id=f"mo_{uuid.uuid4().hex}"), p.service(user))]
    ),
}


def test_every_membership_rpc_has_a_table() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods}
    assert set(TABLES) == methods


@pytest.mark.parametrize("method", sorted(TABLES))
async def test_every_field_refuses_bad_values_by_name_and_writes_nothing(plus: Plus, method: str) -> None:
    member = await plus.register(BusinessLine.PINGOU)
    if method != "Purchase":
        await plus.buy(member, events.PLAN_MONTHLY)
    problems = await check_rpc(TABLES[method](plus, member), plus.row_counts)
    assert problems == []
