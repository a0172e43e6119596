"""The gRPC adapter: proto -> command -> use case -> proto, the mapping in `mapping.py`. Use cases do the
work. Requests are validated (`validation.py`) and their callers checked against the method's rule
(`access.py`) before they get here: the line of the user a call names is the caller's line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import asyncpg
import grpc
from pingou.membership.v1 import membership_pb2 as pb
from pingou.membership.v1 import membership_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.core import BusinessLine
from services.membership.domain.model import PaymentKind
from services.membership.entrypoints import mapping
from services.membership.service_layer import coupons, memberships
from services.membership.service_layer.memberships import LinkedAccounts
from services.membership.service_layer.unit_of_work import UnitOfWork

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
        order = mapping.order_from_proto(request, PaymentKind.PURCHASE)
        membership = await memberships.purchase(self._uow(line), self._links, order, now=now)
        return mapping.membership_to_proto(membership, now=now)

    async def Renew(self, request: pb.RenewRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = current_principal().line
        now = self._now()
        membership = await memberships.renew(
            self._uow(line), mapping.order_from_proto(request, PaymentKind.RENEWAL), now=now
        )
        return mapping.membership_to_proto(membership, now=now)

    async def CancelAutoRenew(
        self, request: pb.CancelAutoRenewRequest, context: grpc.aio.ServicerContext
    ) -> pb.Membership:
        line = current_principal().line
        now = self._now()
        membership = await memberships.cancel_auto_renew(self._uow(line), request.user_id, now=now)
        return mapping.membership_to_proto(membership, now=now)

    async def GetMembership(self, request: pb.GetMembershipRequest, context: grpc.aio.ServicerContext) -> pb.Membership:
        line = current_principal().line
        membership = await memberships.get_membership(self._uow(line), request.user_id)
        return mapping.membership_to_proto(membership, now=self._now())

    async def IsMember(self, request: pb.IsMemberRequest, context: grpc.aio.ServicerContext) -> pb.IsMemberResponse:
        line = current_principal().line
        at = mapping.asked_at(request) or self._now()
        until = await memberships.member_until(self._uow(line), request.user_id, at=at)
        return mapping.is_member_to_proto(until)

    async def GetCoupons(self, request: pb.GetCouponsRequest, context: grpc.aio.ServicerContext) -> pb.CouponBalance:
        line = current_principal().line
        balance = await coupons.coupons_of(
            self._uow(line), request.user_id, now=self._now(), per_month=self._coupons_per_month
        )
        return mapping.balance_to_proto(balance)

    async def UseCoupon(self, request: pb.UseCouponRequest, context: grpc.aio.ServicerContext) -> pb.CouponBalance:
        line = current_principal().line
        balance = await coupons.use_coupon(
            self._uow(line),
            request.user_id,
            order_id=request.order_id,
            now=self._now(),
            per_month=self._coupons_per_month,
        )
        return mapping.balance_to_proto(balance)
