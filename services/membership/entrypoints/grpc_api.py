"""The gRPC adapter: request validation, authorization, proto <-> domain. Use cases do the work."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import asyncpg
import grpc
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb
from pingou.membership.v1 import membership_pb2_grpc as pb_grpc

from libs.auth import Role, authorize_user_access, current_principal
from libs.convert import timestamp
from libs.core import BusinessLine
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.membership.domain.coupons import CouponBalance
from services.membership.domain.model import Membership, PaymentKind, PaymentOrder
from services.membership.domain.plans import PLANS, Plan
from services.membership.service_layer import coupons, memberships
from services.membership.service_layer.memberships import PLAN_TO_PROTO, LinkedAccounts
from services.membership.service_layer.unit_of_work import UnitOfWork

SERVICE = pb.DESCRIPTOR.services_by_name["MembershipService"].full_name
PLAN_FROM_PROTO: dict[int, Plan] = {value: key for key, value in PLAN_TO_PROTO.items()}
RENEWABLE = {value: plan for value, plan in PLAN_FROM_PROTO.items() if PLANS[plan].renewable}
# Payment references and order ids come from other systems: short, printable, no spaces.
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT_MINOR = 100_000_000
EARLIEST_AT, LATEST_AT = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

BUYERS = (Role.SERVICE, Role.OPERATOR)  # the payment backend, or an operator fixing an order
READERS = (Role.SERVICE, Role.OPERATOR, Role.ANALYTICS)


# --- validation at the edge (shape only; prices, existence and permissions come later)


def _reference(problems: Violations, field: str, value: str) -> None:
    if not REFERENCE.match(value):
        problems.add(field, "is required" if not value else "must be 1 to 64 letters, digits or _ . : -")


def _payment(problems: Violations, request: pb.PurchaseRequest | pb.RenewRequest) -> None:
    problems.user_id("user_id", request.user_id)
    _reference(problems, "payment_reference", request.payment_reference)
    problems.number("amount_paid_minor", request.amount_paid_minor, minimum=0, maximum=MAX_AMOUNT_MINOR)
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


# --- proto <-> domain


def membership_to_proto(membership: Membership, *, now: datetime) -> pb.Membership:
    # The state is the clock's answer, not the expiry job's bookkeeping, which may lag by a poll.
    state = pb.MEMBERSHIP_STATE_ACTIVE if membership.active_at(now) else pb.MEMBERSHIP_STATE_EXPIRED
    return pb.Membership(
        user_id=membership.user_id,
        state=state,
        plan=PLAN_TO_PROTO[membership.plan],
        started_at=timestamp(membership.started_at),
        expires_at=timestamp(membership.expires_at),
        auto_renew=membership.auto_renew,
    )


def balance_to_proto(balance: CouponBalance) -> pb.CouponBalance:
    return pb.CouponBalance(
        user_id=balance.user_id, month=balance.month_label, granted=balance.granted, remaining=balance.remaining
    )


def order_from_proto(request: pb.PurchaseRequest | pb.RenewRequest, kind: PaymentKind) -> PaymentOrder:
    return PaymentOrder(
        user_id=request.user_id,
        kind=kind,
        plan=PLAN_FROM_PROTO[request.plan],
        reference=request.payment_reference,
        amount_minor=request.amount_paid_minor,
        currency=request.currency,
        auto_renew=request.auto_renew if isinstance(request, pb.PurchaseRequest) else False,
    )


# --- the servicer


class MembershipServicer(pb_grpc.MembershipServiceServicer):
    def __init__(
        self,
        *,
        pools: Mapping[BusinessLine, asyncpg.Pool],
        links: LinkedAccounts,
        topic_prefix: str,
        coupons_per_month: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._pools = pools
        self._links = links
        self._prefix = topic_prefix
        self._coupons_per_month = coupons_per_month
        self._now = clock

    def _uow(self, line: BusinessLine) -> UnitOfWork:
        return UnitOfWork(self._pools[line], line, topic_prefix=self._prefix)

    async def Purchase(self, request: pb.PurchaseRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = authorize_user_access(current_principal(), request.user_id, roles=BUYERS)
        now = self._now()
        order = order_from_proto(request, PaymentKind.PURCHASE)
        membership = await memberships.purchase(self._uow(line), self._links, order, now=now)
        return membership_to_proto(membership, now=now)

    async def Renew(self, request: pb.RenewRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = authorize_user_access(current_principal(), request.user_id, roles=BUYERS)
        now = self._now()
        membership = await memberships.renew(self._uow(line), order_from_proto(request, PaymentKind.RENEWAL), now=now)
        return membership_to_proto(membership, now=now)

    async def CancelAutoRenew(
        self, request: pb.CancelAutoRenewRequest, context: grpc.aio.ServicerContext
    ) -> pb.Membership:
        line = authorize_user_access(current_principal(), request.user_id, roles=BUYERS, allow_self=True)
        now = self._now()
        membership = await memberships.cancel_auto_renew(self._uow(line), request.user_id, now=now)
        return membership_to_proto(membership, now=now)

    async def GetMembership(self, request: pb.GetMembershipRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = authorize_user_access(current_principal(), request.user_id, roles=READERS, allow_self=True)
        membership = await memberships.get_membership(self._uow(line), request.user_id)
        return membership_to_proto(membership, now=self._now())

    async def IsMember(self, request: pb.IsMemberRequest, context: grpc.aio.ServicerContext) -> pb.IsMemberResponse:
        line = authorize_user_access(current_principal(), request.user_id, roles=BUYERS, allow_self=True)
        at = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else self._now()
        until = await memberships.member_until(self._uow(line), request.user_id, at=at)
        if until is None:
            return pb.IsMemberResponse(member=False)
        return pb.IsMemberResponse(member=True, expires_at=timestamp(until))

    async def GetCoupons(self, request: pb.GetCouponsRequest, context: grpc.aio.ServicerContext) -> pb.CouponBalance:
        line = authorize_user_access(current_principal(), request.user_id, roles=BUYERS, allow_self=True)
        balance = await coupons.coupons_of(
            self._uow(line), request.user_id, now=self._now(), per_month=self._coupons_per_month
        )
        return balance_to_proto(balance)

    async def UseCoupon(self, request: pb.UseCouponRequest, context: grpc.aio.ServicerContext) -> pb.CouponBalance:
        line = authorize_user_access(current_principal(), request.user_id, roles=BUYERS)
        balance = await coupons.use_coupon(
            self._uow(line),
            request.user_id,
            order_id=request.order_id,
            now=self._now(),
            per_month=self._coupons_per_month,
        )
        return balance_to_proto(balance)
