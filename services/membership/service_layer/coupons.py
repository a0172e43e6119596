"""Use cases of the free-shipping coupon ledger: a member's coupons are granted on the first access of
each month; each order spends at most one, and the balance never goes below zero."""

from __future__ import annotations

from datetime import datetime

from libs.core import AlreadyExists, FailedPrecondition
from services.membership.domain.coupons import CouponBalance, coupon_month
from services.membership.service_layer.unit_of_work import UnitOfWork


async def coupons_of(uow: UnitOfWork, user_id: str, *, now: datetime, per_month: int) -> CouponBalance:
    month = coupon_month(now)
    async with uow:
        repository = uow.memberships
        ledger = await repository.coupon_ledger(user_id, month=month)
        if ledger is not None:
            return ledger
        membership = await repository.membership(user_id)
        if membership is None or not membership.active_at(now):
            return CouponBalance(user_id, month, granted=0, remaining=0)
        return await repository.grant_coupons(user_id, month=month, count=per_month)


async def use_coupon(uow: UnitOfWork, user_id: str, *, order_id: str, now: datetime, per_month: int) -> CouponBalance:
    month = coupon_month(now)
    async with uow:
        repository = uow.memberships
        await repository.lock_member(user_id)
        used = await repository.coupon_use(order_id)
        if used is not None:
            owner, balance = used
            if owner != user_id:
                raise AlreadyExists(
                    f"order {order_id} already used a coupon of another member", reason="ORDER_ID_REUSED"
                )
            return balance  # a retry: the first answer, and no second coupon
        membership = await repository.membership(user_id)
        if membership is None or not membership.active_at(now):
            raise FailedPrecondition(f"{user_id} is not a PLUS member now", reason="NOT_A_MEMBER")
        await repository.grant_coupons(user_id, month=month, count=per_month)
        after = await repository.spend_coupon(user_id, month=month)
        if after is None:
            raise FailedPrecondition(
                f"{user_id} has used every free-shipping coupon of {month:%Y-%m}", reason="NO_COUPONS_LEFT"
            )
        await repository.record_coupon_use(order_id, after)
    return after
