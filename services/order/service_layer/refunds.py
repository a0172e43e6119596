"""The payment boundary: the provider's payment confirmations, and refunds asked of it.

A confirmation is idempotent by the provider's payment reference: the first one is recorded with its
outcome and answer, and every repeat (concurrent ones wait on the reference) gets that same answer.
A refund is a durable record: RefundRequested goes to the provider's adapter, and is sent again with a
higher attempt, backing off, until the provider reports a result or the attempts run out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import FailedPrecondition, NotFound
from libs.logs import get_logger
from services.order.adapters.protos import order_to_proto, refund_to_proto
from services.order.domain.model import (
    CancelReason,
    Order,
    OrderState,
    Refund,
    RefundReason,
    RefundState,
    new_refund_id,
    refund_backoff,
)
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.transitions import cancel, get_order, locked_order, move, publish_paid
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE, UnitOfWork

log = get_logger(__name__)

# Refused confirmations: (reason, what the provider is told). The confirmation stays recorded.
REFUSALS = {
    "intent_mismatch": ("PAYMENT_INTENT_MISMATCH", "the payment names another order's payment intent"),
    "currency_mismatch": ("PAYMENT_CURRENCY_MISMATCH", "the payment is in another currency than the order"),
    "amount_mismatch": ("PAYMENT_AMOUNT_MISMATCH", "the amount paid is not the order's total"),
    "late": ("ORDER_CANCELLED", "the order was cancelled before it was paid; the payment is being refunded"),
    "duplicate": ("ORDER_ALREADY_PAID", "the order was already paid; this second payment is being refunded"),
}


@dataclass(frozen=True, slots=True)
class PaymentConfirmation:
    order_id: str
    intent_id: str
    payment_reference: str
    amount_minor: int
    currency: str
    paid_at: datetime


async def confirm_payment(
    make_uow: Callable[[], UnitOfWork], payment: PaymentConfirmation, *, policy: OrderPolicy, now: datetime
) -> pb.Order:
    async with make_uow() as uow:
        order = await uow.orders.order(payment.order_id, for_update=True)
        if order is None:
            raise NotFound(f"no order {payment.order_id}", reason="ORDER_NOT_FOUND")
        outcome = payment_outcome(order, payment)
        claimed = await uow.orders.claim_payment(
            payment.payment_reference,
            order_id=order.order_id,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            paid_at=payment.paid_at,
            outcome=outcome,
        )
        if not claimed:
            earlier = await uow.orders.payment(payment.payment_reference)
            assert earlier is not None
            if earlier["order_id"] != order.order_id:
                raise FailedPrecondition(
                    f"payment {payment.payment_reference} was confirmed for another order",
                    reason="PAYMENT_REFERENCE_REUSED",
                )
            outcome, answer = earlier["outcome"], earlier["response"]
        elif outcome == "accepted":
            order = await _accept(uow, order, payment)
            answer = order_to_proto(order).SerializeToString()
            await uow.orders.settle_payment(payment.payment_reference, outcome=outcome, response=answer)
        else:
            await _refuse(uow, order, payment, outcome, policy=policy, now=now)
    # Committed: a refused payment stays recorded (and refunded when money moved) before it is refused.
    if outcome != "accepted":
        reason, why = REFUSALS[outcome]
        raise FailedPrecondition(f"payment {payment.payment_reference}: {why}", reason=reason)
    return pb.Order.FromString(answer)


def payment_outcome(order: Order, payment: PaymentConfirmation) -> str:
    if payment.intent_id != order.intent_id:
        return "intent_mismatch"
    if payment.currency != order.currency:
        return "currency_mismatch"
    if payment.amount_minor != order.total_minor:
        return "amount_mismatch"
    if order.state is OrderState.PENDING_PAYMENT:
        # The provider's clock decides "in time": a payment made before the limit counts even if its
        # confirmation arrives after it, as long as the timeout job has not cancelled the order yet.
        return "accepted" if payment.paid_at <= order.pay_by else "late"
    return "late" if order.state is OrderState.CANCELLED else "duplicate"


async def _accept(uow: UnitOfWork, order: Order, payment: PaymentConfirmation) -> Order:
    order = await move(
        uow, order, OrderState.PAID, payment_reference=payment.payment_reference, paid_at=payment.paid_at
    )
    if order.group_id is not None:
        order = await move(uow, order, OrderState.AWAITING_GROUP)
    publish_paid(uow, order)
    return order


async def _refuse(
    uow: UnitOfWork, order: Order, payment: PaymentConfirmation, outcome: str, *, policy: OrderPolicy, now: datetime
) -> None:
    if outcome in ("late", "duplicate"):
        if order.state is OrderState.PENDING_PAYMENT:  # paid after the limit, before the job got to it
            order = await cancel(uow, order.order_id, reason=CancelReason.PAYMENT_TIMEOUT, now=now)
        reason = RefundReason.LATE_PAYMENT if outcome == "late" else RefundReason.DUPLICATE_PAYMENT
        await request_refund_of(
            uow,
            order,
            reason=reason,
            payment_reference=payment.payment_reference,
            amount_minor=payment.amount_minor,
            policy=policy,
            now=now,
        )
        log.warning("payment_refunded", order_id=order.order_id, outcome=outcome, reference=payment.payment_reference)
        return
    uow.publish(
        ORDER_AGGREGATE,
        order.order_id,
        events.PaymentRejected(
            order_id=order.order_id,
            payment_reference=payment.payment_reference,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            reason=REFUSALS[outcome][0],
        ),
    )
    log.warning("payment_rejected", order_id=order.order_id, outcome=outcome, reference=payment.payment_reference)


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
    refund_id: str | None = None,
) -> Refund | None:
    """Records the refund of one payment and asks the provider for it. None when that payment already has
    a refund: a payment is refunded at most once, however often its refund is triggered."""
    refund = Refund(
        refund_id=refund_id or new_refund_id(uow.line),
        order_id=order.order_id,
        reason=reason,
        state=RefundState.REQUESTED,
        amount_minor=amount_minor,
        currency=order.currency,
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


async def ask_again_for_silent_refunds(
    uow: UnitOfWork, *, policy: OrderPolicy, now: datetime, limit: int
) -> list[Refund]:
    """The refund retry job: refunds whose provider stayed silent past their next attempt time are asked
    again (attempt + 1), or given up on after the last attempt. Replica-safe: SKIP LOCKED batches."""
    handled = []
    for refund in await uow.orders.silent_refunds(now=now, limit=limit):
        if refund.attempts >= policy.refund_max_attempts:
            handled.append(await _refund_failed(uow, refund, "the provider never answered", policy=policy, now=now))
            continue
        attempt = refund.attempts + 1
        await uow.orders.retry_refund(
            refund.refund_id,
            attempts=attempt,
            next_attempt_at=now + refund_backoff(attempt, base=policy.refund_retry_base),
        )
        refund = replace(refund, attempts=attempt, updated_at=now)
        _publish_requested(uow, await get_order(uow, refund.order_id), refund)
        handled.append(refund)
    return handled
