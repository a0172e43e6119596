"""Request validation at the membership service's edge: shape only (ids, references, plans, amounts,
moments). Prices, existence and permissions are decided behind it. Every request has passed
libs.grpckit.wellformed first (no control characters, no text over its generic cap, no unknown enum value)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.core.orders import MAX_PAYMENT_MINOR
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.membership.domain.plans import PLANS, Plan
from services.membership.service_layer.memberships import PLAN_TO_PROTO

SERVICE = pb.DESCRIPTOR.services_by_name["MembershipService"].full_name
PLAN_FROM_PROTO: dict[int, Plan] = {value: key for key, value in PLAN_TO_PROTO.items()}
RENEWABLE = {value: plan for value, plan in PLAN_FROM_PROTO.items() if PLANS[plan].renewable}
# Payment references and order ids come from other systems: short, printable, no spaces.
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
EARLIEST_AT, LATEST_AT = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _reference(problems: Violations, field: str, value: str) -> None:
    if not REFERENCE.match(value):
        problems.add(field, "is required" if not value else "must be 1 to 64 letters, digits or _ . : -")


def _payment(problems: Violations, request: pb.PurchaseRequest | pb.RenewRequest) -> None:
    problems.user_id("user_id", request.user_id)
    _reference(problems, "payment_reference", request.payment_reference)
    problems.number("amount_paid_minor", request.amount_paid_minor, minimum=0, maximum=MAX_PAYMENT_MINOR)
    if not CURRENCY_CODE.match(request.currency):
        problems.add("currency", "is required" if not request.currency else "is not an ISO 4217 code (like CNY)")


def validate_purchase(request: pb.PurchaseRequest) -> None:
    problems = Violations()
    _payment(problems, request)
    problems.enum("plan", request.plan, allowed=PLAN_FROM_PROTO)
    if request.auto_renew and request.plan == events.PLAN_TRIAL:
        problems.add("auto_renew", "cannot be set for a trial (a trial is never renewed)")
    problems.raise_if_any()


def validate_renew(request: pb.RenewRequest) -> None:
    problems = Violations()
    _payment(problems, request)
    if request.plan in PLAN_FROM_PROTO and request.plan not in RENEWABLE:
        problems.add("plan", "cannot be renewed; renew with a paid plan (ANNUAL or MONTHLY)")
    else:
        problems.enum("plan", request.plan, allowed=RENEWABLE)
    problems.raise_if_any()


def validate_user_only(request: pb.GetMembershipRequest | pb.CancelAutoRenewRequest | pb.GetCouponsRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    problems.raise_if_any()


def validate_is_member(request: pb.IsMemberRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    if request.HasField("at"):
        seconds = request.at.seconds
        if not (EARLIEST_AT.timestamp() <= seconds < LATEST_AT.timestamp() and 0 <= request.at.nanos < 10**9):
            problems.add("at", "must be a moment between the years 2000 and 2100")
    problems.raise_if_any()


def validate_use_coupon(request: pb.UseCouponRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    _reference(problems, "order_id", request.order_id)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/Purchase": validate_purchase,
    f"/{SERVICE}/Renew": validate_renew,
    f"/{SERVICE}/CancelAutoRenew": validate_user_only,
    f"/{SERVICE}/GetMembership": validate_user_only,
    f"/{SERVICE}/IsMember": validate_is_member,
    f"/{SERVICE}/GetCoupons": validate_user_only,
    f"/{SERVICE}/UseCoupon": validate_use_coupon,
}
