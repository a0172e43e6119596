"""Refunds, the other half of the payment boundary. A refund is a durable record: RefundRequested goes to
the provider's adapter, and is sent again with a higher attempt, backing off, until the provider reports
a result or the attempts run out; then an operator may ask once more (RetryRefund).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from pingou.order.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import FailedPrecondition, NotFound
from libs.jobs import Job, Settled, settle_each
from libs.logs import get_logger
from services.order.domain.model import (
    Order,
    OrderState,
    Refund,
    RefundReason,
    RefundState,
    new_refund_id,
    refund_backoff,
)
from services.order.service_layer.announcements import refund_to_proto
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.transitions import get_order, locked_order, move
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE, UnitOfWork

log = get_logger(__name__)

# --- refunds


async def request_refund_of(
    uow: UnitOfWork,
    order: Order,
    *,
    reason: RefundReason,
    payment_reference: str,
    amount_minor: int,
    policy: OrderPolicy,
    now: datetime,
    currency: str | None = None,
    refund_id: str | None = None,
) -> Refund | None:
    """Records the refund of one payment and asks the provider for it. None when that payment already has
    a refund: a payment is refunded at most once, however often its refund is triggered. The currency is
    the payment's (the order's unless said otherwise)."""
    refund = Refund(
        refund_id=refund_id or new_refund_id(uow.line),
        order_id=order.order_id,
        reason=reason,
        state=RefundState.REQUESTED,
        amount_minor=amount_minor,
        currency=currency or order.currency,
        payment_reference=payment_reference,
        attempts=1,
        requested_at=now,
        updated_at=now,
    )
    if not await uow.orders.add_refund(refund, next_attempt_at=now + refund_backoff(1, base=policy.refund_retry_base)):
        return None
    _publish_requested(uow, order, refund)
    return refund


def _publish_requested(uow: UnitOfWork, order: Order, refund: Refund) -> None:
    uow.publish(
        ORDER_AGGREGATE,
        order.order_id,
        events.RefundRequested(
            refund=refund_to_proto(refund), user_id=order.user_id, payment_reference=refund.payment_reference
        ),
    )


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_id: str
    attempt: int
    succeeded: bool
    provider_reference: str
    error: str


async def report_refund_result(
    make_uow: Callable[[], UnitOfWork], result: RefundResult, *, policy: OrderPolicy, now: datetime
) -> Refund:
    """The provider's answer. Success is final (and reported twice, answered twice the same); a failure
    schedules the next attempt, or gives up after the last; an answer to an older attempt changes nothing."""
    async with make_uow() as uow:
        refund = await uow.orders.refund(result.refund_id, for_update=True)
        if refund is None:
            raise NotFound(f"no refund {result.refund_id}", reason="REFUND_NOT_FOUND")
        if result.attempt > refund.attempts:
            raise FailedPrecondition(
                f"refund {refund.refund_id} has had {refund.attempts} attempts, not {result.attempt}",
                reason="UNKNOWN_REFUND_ATTEMPT",
            )
        if refund.state is RefundState.SUCCEEDED:
            if not result.succeeded:
                raise FailedPrecondition(f"refund {refund.refund_id} already succeeded", reason="REFUND_SUCCEEDED")
            return refund
        if result.succeeded:
            return await _refund_succeeded(uow, refund, result.provider_reference, now=now)
        if result.attempt < refund.attempts or refund.state is RefundState.FAILED:
            return refund  # a late answer to an attempt that was already asked again
        return await _refund_failed(uow, refund, result.error, policy=policy, now=now)


async def _refund_succeeded(uow: UnitOfWork, refund: Refund, provider_reference: str, *, now: datetime) -> Refund:
    order = await locked_order(uow, refund.order_id)
    refund = await uow.orders.update_refund(
        refund.refund_id, state=RefundState.SUCCEEDED, next_attempt_at=None, provider_reference=provider_reference
    )
    uow.publish(ORDER_AGGREGATE, order.order_id, events.RefundSucceeded(refund=refund_to_proto(refund)))
    if order.state is OrderState.REFUNDING and order.payment_reference == refund.payment_reference:
        order = await move(uow, order, OrderState.REFUNDED)
        uow.publish(
            ORDER_AGGREGATE,
            order.order_id,
            events.OrderRefunded(
                order_id=order.order_id,
                user_id=order.user_id,
                amount_minor=refund.amount_minor,
                refunded_at=timestamp(now),
                refund_id=refund.refund_id,
            ),
        )
    return refund


async def _refund_failed(uow: UnitOfWork, refund: Refund, error: str, *, policy: OrderPolicy, now: datetime) -> Refund:
    final = refund.attempts >= policy.refund_max_attempts
    refund = await uow.orders.update_refund(
        refund.refund_id,
        state=RefundState.FAILED if final else RefundState.REQUESTED,
        next_attempt_at=None if final else now + refund_backoff(refund.attempts, base=policy.refund_retry_base),
        error=error or "no reason given",
    )
    uow.publish(
        ORDER_AGGREGATE,
        refund.order_id,
        events.RefundFailed(refund=refund_to_proto(refund), error=error, final=final),
    )
    if final:
        log.error("refund_failed_for_good", refund_id=refund.refund_id, order_id=refund.order_id, error=error)
    return refund


REFUND_RETRY = Job("order", "refund_retry")


async def ask_again_for_silent_refunds(
    uow: UnitOfWork, *, policy: OrderPolicy, now: datetime, limit: int
) -> Settled[Refund]:
    """The refund retry job: refunds whose provider stayed silent past their next attempt time are asked
    again (attempt + 1), or given up on after the last attempt, each on its own (a refund that cannot be
    handled is set aside, the others go on). Replica-safe: SKIP LOCKED batches."""
    silent = await uow.orders.claim_silent_refunds(now=now, job=REFUND_RETRY.name, limit=limit)
    return await settle_each(
        uow, REFUND_RETRY, silent, lambda refund_id: _ask_again(uow, refund_id, policy=policy, now=now)
    )


async def _ask_again(uow: UnitOfWork, refund_id: str, *, policy: OrderPolicy, now: datetime) -> Refund:
    refund = await uow.orders.refund(refund_id)  # locked by the claim
    if refund is None:
        raise NotFound(f"no refund {refund_id}", reason="REFUND_NOT_FOUND")
    if refund.attempts >= policy.refund_max_attempts:
        return await _refund_failed(uow, refund, "the provider never answered", policy=policy, now=now)
    attempt = refund.attempts + 1
    await uow.orders.retry_refund(
        refund.refund_id, attempts=attempt, next_attempt_at=now + refund_backoff(attempt, base=policy.refund_retry_base)
    )
    refund = replace(refund, attempts=attempt, updated_at=now)
    _publish_requested(uow, await get_order(uow, refund.order_id), refund)
    return refund


async def retry_refund(
    make_uow: Callable[[], UnitOfWork], refund_id: str, *, policy: OrderPolicy, now: datetime
) -> Refund:
    """An operator's one more try at a refund that failed for good: requested again, as a new attempt."""
    async with make_uow() as uow:
        refund = await uow.orders.refund(refund_id, for_update=True)
        if refund is None:
            raise NotFound(f"no refund {refund_id}", reason="REFUND_NOT_FOUND")
        if refund.state is not RefundState.FAILED:
            raise FailedPrecondition(
                f"refund {refund_id} is {refund.state.value}; only a failed refund is retried",
                reason="REFUND_NOT_FAILED",
            )
        attempt = refund.attempts + 1
        # As long to answer as the attempts before it had; silence then fails it again.
        await uow.orders.retry_refund(
            refund_id, attempts=attempt, next_attempt_at=now + refund_backoff(attempt, base=policy.refund_retry_base)
        )
        refund = replace(refund, state=RefundState.REQUESTED, attempts=attempt, updated_at=now)
        _publish_requested(uow, await get_order(uow, refund.order_id), refund)
        return refund
