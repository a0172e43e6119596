"""The gRPC adapter: proto <-> domain. Use cases do the work. Requests are validated (`validation.py`) and
their callers checked against the method's rule (`access.py`) before they get here: the line of the user a
call names is the caller's line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import asyncpg
import grpc
from pingou.membership.v1 import membership_pb2 as pb
from pingou.membership.v1 import membership_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.convert import timestamp
from libs.core import BusinessLine
from services.membership.domain.coupons import CouponBalance
from services.membership.domain.model import Membership, PaymentKind, PaymentOrder
from services.membership.entrypoints.validation import PLAN_FROM_PROTO
from services.membership.service_layer import coupons, memberships
from services.membership.service_layer.memberships import PLAN_TO_PROTO, LinkedAccounts
from services.membership.service_layer.unit_of_work import UnitOfWork

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
        line = current_principal().line
        now = self._now()
        order = order_from_proto(request, PaymentKind.PURCHASE)
        membership = await memberships.purchase(self._uow(line), self._links, order, now=now)
        return membership_to_proto(membership, now=now)

    async def Renew(self, request: pb.RenewRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = current_principal().line
        now = self._now()
        membership = await memberships.renew(self._uow(line), order_from_proto(request, PaymentKind.RENEWAL), now=now)
        return membership_to_proto(membership, now=now)

    async def CancelAutoRenew(
        self, request: pb.CancelAutoRenewRequest, context: grpc.aio.ServicerContext
    ) -> pb.Membership:
        line = current_principal().line
        now = self._now()
        membership = await memberships.cancel_auto_renew(self._uow(line), request.user_id, now=now)
        return membership_to_proto(membership, now=now)

    async def GetMembership(self, request: pb.GetMembershipRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = current_principal().line
        membership = await memberships.get_membership(self._uow(line), request.user_id)
        return membership_to_proto(membership, now=self._now())

    async def IsMember(self, request: pb.IsMemberRequest, context: grpc.aio.ServicerContext) -> pb.IsMemberResponse:
        line = current_principal().line
        at = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else self._now()
        until = await memberships.member_until(self._uow(line), request.user_id, at=at)
        if until is None:
            return pb.IsMemberResponse(member=False)
        return pb.IsMemberResponse(member=True, expires_at=timestamp(until))

    async def GetCoupons(self, request: pb.GetCouponsRequest, context: grpc.aio.ServicerContext) -> pb.CouponBalance:
        line = current_principal().line
        balance = await coupons.coupons_of(
            self._uow(line), request.user_id, now=self._now(), per_month=self._coupons_per_month
        )
        return balance_to_proto(balance)

    async def UseCoupon(self, request: pb.UseCouponRequest, context: grpc.aio.ServicerContext) -> pb.CouponBalance:
        line = current_principal().line
        balance = await coupons.use_coupon(
            self._uow(line),
            request.user_id,
            order_id=request.order_id,
            now=self._now(),
            per_month=self._coupons_per_month,
        )
        return balance_to_proto(balance)
