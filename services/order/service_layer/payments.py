"""The payment boundary's inbound half: the provider's payment confirmations.

A confirmation is idempotent by the provider's payment reference: the first one is recorded with its
outcome and answer, and every repeat (concurrent ones wait on the reference) gets that same answer.
Money that arrives and cannot pay the order (wrong amount, too late, twice) is recorded and refunded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pingou.order.v1 import events_pb2 as events

from libs.core import FailedPrecondition, NotFound
from libs.core.orders import paid_in_time
from libs.logs import get_logger
from services.order.domain.model import CancelReason, Order, OrderState, RefundReason
from services.order.service_layer.announcements import answer_of, order_from_answer
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.refunds import request_refund_of
from services.order.service_layer.transitions import cancel, move, publish_paid
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE, UnitOfWork

log = get_logger(__name__)

# Refused confirmations: (reason, what the provider is told). Each stays recorded, and its money is refunded.
REFUSALS = {
    "intent_mismatch": ("PAYMENT_INTENT_MISMATCH", "it names another payment intent; it is being refunded"),
    "currency_mismatch": ("PAYMENT_CURRENCY_MISMATCH", "it is in another currency; it is being refunded"),
    "amount_mismatch": ("PAYMENT_AMOUNT_MISMATCH", "it is not the order's total; it is being refunded"),
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
) -> Order:
    async with make_uow() as uow:
        order = await uow.orders.order(payment.order_id, for_update=True)
        if order is None:
            raise NotFound(f"no order {payment.order_id}", reason="ORDER_NOT_FOUND")
        outcome = payment_outcome(order, payment, now=now)
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
            outcome = earlier["outcome"]
            if outcome == "accepted":
                order = order_from_answer(earlier["response"])  # the first confirmation's answer
        elif outcome == "accepted":
            order = await _accept(uow, order, payment)
            await uow.orders.settle_payment(payment.payment_reference, outcome=outcome, response=answer_of(order))
        else:
            await _refuse(uow, order, payment, outcome, policy=policy, now=now)
    # Committed: a refused payment is recorded, and its refund started, before the refusal is answered.
    if outcome != "accepted":
        reason, why = REFUSALS[outcome]
        raise FailedPrecondition(f"payment {payment.payment_reference}: {why}", reason=reason)
    return order


def payment_outcome(order: Order, payment: PaymentConfirmation, *, now: datetime) -> str:
    if payment.intent_id != order.intent_id:
        return "intent_mismatch"
    if payment.currency != order.currency:
        return "currency_mismatch"
    if payment.amount_minor != order.total_minor:
        return "amount_mismatch"
    if order.state is OrderState.PENDING_PAYMENT:
        # The provider's clock decides "in time": a payment made by the limit counts even if its confirmation
        # comes after it, within the grace the payment-timeout job waits out before it cancels.
        in_time = paid_in_time(paid_at=payment.paid_at, pay_by=order.pay_by, confirmed_at=now)
        return "accepted" if in_time else "late"
    return "late" if order.state is OrderState.CANCELLED else "duplicate"


async def _accept(uow: UnitOfWork, order: Order, payment: PaymentConfirmation) -> Order:
    order = await move(
        uow, order, OrderState.PAID, payment_reference=payment.payment_reference, paid_at=payment.paid_at
    )
    if order.group_id is not None:
        order = await move(uow, order, OrderState.AWAITING_GROUP)
    publish_paid(uow, order)
    return order


_REFUND_REASONS = {
    "late": RefundReason.LATE_PAYMENT,
    "duplicate": RefundReason.DUPLICATE_PAYMENT,
    "intent_mismatch": RefundReason.PAYMENT_MISMATCH,
    "currency_mismatch": RefundReason.PAYMENT_MISMATCH,
    "amount_mismatch": RefundReason.PAYMENT_MISMATCH,
}


async def _refuse(
    uow: UnitOfWork, order: Order, payment: PaymentConfirmation, outcome: str, *, policy: OrderPolicy, now: datetime
) -> None:
    """Records why the money cannot pay the order, and sends it back: whatever the provider took is the
    buyer's, in the currency it was taken in."""
    if outcome == "late" and order.state is OrderState.PENDING_PAYMENT:  # the job has not got to it yet
        order = await cancel(uow, order.order_id, reason=CancelReason.PAYMENT_TIMEOUT, now=now)
    if outcome not in ("late", "duplicate"):
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
    await request_refund_of(
        uow,
        order,
        reason=_REFUND_REASONS[outcome],
        payment_reference=payment.payment_reference,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        policy=policy,
        now=now,
    )
    log.warning(
        "payment_refused_and_refunded", order_id=order.order_id, outcome=outcome, reference=payment.payment_reference
    )
