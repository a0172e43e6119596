"""Proto <-> domain for the membership API: purchases and renewals become payment orders; memberships,
membership checks and coupon balances become answers."""

from __future__ import annotations

from datetime import UTC, datetime

from pingou.membership.v1 import membership_pb2 as pb

from libs.convert import timestamp
from services.membership.domain.coupons import CouponBalance
from services.membership.domain.model import Membership, PaymentKind, PaymentOrder
from services.membership.entrypoints.validation import PLAN_FROM_PROTO
from services.membership.service_layer.memberships import PLAN_TO_PROTO


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


def asked_at(request: pb.IsMemberRequest) -> datetime | None:
    """The moment an IsMember call asks about; None when unset (then it asks about now)."""
    return request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else None


def is_member_to_proto(until: datetime | None) -> pb.IsMemberResponse:
    """A member until `until`; None, not a member."""
    if until is None:
        return pb.IsMemberResponse(member=False)
    return pb.IsMemberResponse(member=True, expires_at=timestamp(until))
