"""Payment confirmations over a fake unit of work: the first confirmation of a reference decides, repeats
get its answer, and money that cannot pay the order is recorded and refunded before the refusal is told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import BusinessLine, FailedPrecondition, NotFound
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from services.order.domain.model import CancelReason, Order, OrderState, Refund, RefundReason
from services.order.service_layer.announcements import order_to_proto
from services.order.service_layer.payments import PaymentConfirmation, confirm_payment
from tests.unit.order.fakes import FakeUnitOfWork
from tests.unit.order.given import BUYER, NOW, POLICY, group_order, mall_order, payment_of, read


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.MALL)


async def confirm(uow: FakeUnitOfWork, payment: PaymentConfirmation, *, now: datetime = NOW) -> pb.Order:
    return order_to_proto(await confirm_payment(uow, payment, policy=POLICY, now=now))  # as the API answers


def refunds_of(uow: FakeUnitOfWork, order: Order) -> list[Refund]:
    return [stored.refund for stored in uow.tables.refunds.values() if stored.refund.order_id == order.order_id]


async def test_a_confirmed_payment_pays_the_order_and_announces_it(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    answer = await confirm(uow, payment_of(order, "pay-1", paid_at=NOW + timedelta(minutes=3)))

    stored = await read(uow, order.order_id)
    assert (answer.state, answer.payment_reference) == (pb.ORDER_STATE_PAID, "pay-1")
    assert (stored.state, stored.payment_reference, stored.paid_at) == (
        OrderState.PAID,
        "pay-1",
        NOW + timedelta(minutes=3),
    )
    assert uow.tables.payments["pay-1"]["outcome"] == "accepted"
    paid = uow.published[-1]
    assert isinstance(paid, events.OrderPaid)
    assert (paid.order_id, paid.user_id, paid.amount_minor, paid.payment_reference, paid.item_count) == (
        order.order_id,
        BUYER,
        10000,
        "pay-1",
        2,
    )
    assert paid.paid_at == timestamp(NOW + timedelta(minutes=3))


async def test_a_paid_group_order_waits_for_its_group() -> None:
    pingou = FakeUnitOfWork(line=BusinessLine.PINGOU)
    order = await group_order(pingou)
    answer = await confirm(pingou, payment_of(order))
    assert answer.state == pb.ORDER_STATE_AWAITING_GROUP
    assert pingou.published_types() == ["OrderPlaced", "OrderPaid", "OrderAwaitingGroup"]


async def test_repeated_confirmations_get_the_first_answer_and_pay_once(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    first = await confirm(uow, payment_of(order))
    again = [await confirm(uow, payment_of(order), now=NOW + timedelta(minutes=30)) for _ in range(3)]
    assert again == [first] * 3
    assert uow.published_types().count("OrderPaid") == 1
    assert refunds_of(uow, order) == []


async def test_a_payment_reference_confirmed_for_another_order_is_refused(uow: FakeUnitOfWork) -> None:
    first, second = await mall_order(uow, "k-1"), await mall_order(uow, "k-2")
    await confirm(uow, payment_of(first, "pay-1"))
    with pytest.raises(FailedPrecondition) as caught:
        await confirm(uow, payment_of(second, "pay-1"))
    assert caught.value.reason == "PAYMENT_REFERENCE_REUSED"
    assert (await read(uow, second.order_id)).state is OrderState.PENDING_PAYMENT


@pytest.mark.parametrize(
    ("mismatch", "reason"),
    [
        (lambda p: replace(p, intent_id="pi_mo_other"), "PAYMENT_INTENT_MISMATCH"),
        (lambda p: replace(p, currency="USD"), "PAYMENT_CURRENCY_MISMATCH"),
        (lambda p: replace(p, amount_minor=9999), "PAYMENT_AMOUNT_MISMATCH"),
    ],
    ids=["intent", "currency", "amount"],
)
async def test_a_payment_that_does_not_match_the_order_is_recorded_rejected_and_refunded(
    uow: FakeUnitOfWork, mismatch: Callable[[PaymentConfirmation], PaymentConfirmation], reason: str
) -> None:
    order = await mall_order(uow)
    payment = mismatch(payment_of(order, "pay-odd"))
    with pytest.raises(FailedPrecondition) as caught:
        await confirm(uow, payment)
    assert caught.value.reason == reason

    assert (await read(uow, order.order_id)).state is OrderState.PENDING_PAYMENT  # the order is unchanged
    assert uow.tables.payments["pay-odd"]["outcome"] != "accepted"
    (refund,) = refunds_of(uow, order)  # committed before the refusal was answered
    assert (refund.reason, refund.payment_reference, refund.amount_minor, refund.currency) == (
        RefundReason.PAYMENT_MISMATCH,
        "pay-odd",
        payment.amount_minor,
        payment.currency,  # sent back in the currency it was taken in
    )
    assert uow.published_types()[-2:] == ["PaymentRejected", "RefundRequested"]
    assert uow.published[-2] == events.PaymentRejected(
        order_id=order.order_id,
        payment_reference="pay-odd",
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        reason=reason,
    )


async def test_a_refused_confirmation_repeated_is_refused_again_without_a_second_refund(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    for _ in range(2):
        with pytest.raises(FailedPrecondition) as caught:
            await confirm(uow, replace(payment_of(order, "pay-odd"), amount_minor=1))
        assert caught.value.reason == "PAYMENT_AMOUNT_MISMATCH"
    assert len(refunds_of(uow, order)) == 1
    assert uow.published_types().count("RefundRequested") == 1


async def test_a_payment_made_by_the_limit_and_confirmed_within_the_grace_pays_the_order(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    payment = payment_of(order, paid_at=order.pay_by - timedelta(seconds=1))
    answer = await confirm(uow, payment, now=order.pay_by + PAYMENT_CONFIRMATION_GRACE)
    assert answer.state == pb.ORDER_STATE_PAID


@pytest.mark.parametrize(
    ("paid_late", "confirmed_late"),
    [(timedelta(seconds=1), timedelta(seconds=2)), (timedelta(0), PAYMENT_CONFIRMATION_GRACE + timedelta(seconds=1))],
    ids=["paid after the limit", "confirmed after the grace"],
)
async def test_a_late_payment_cancels_the_order_and_is_refunded(
    uow: FakeUnitOfWork, paid_late: timedelta, confirmed_late: timedelta
) -> None:
    order = await mall_order(uow)
    payment = payment_of(order, "pay-late", paid_at=order.pay_by + paid_late)
    with pytest.raises(FailedPrecondition) as caught:
        await confirm(uow, payment, now=order.pay_by + confirmed_late)
    assert caught.value.reason == "ORDER_CANCELLED"

    stored = await read(uow, order.order_id)
    assert (stored.state, stored.cancel_reason) == (OrderState.CANCELLED, CancelReason.PAYMENT_TIMEOUT)
    assert [refund.reason for refund in refunds_of(uow, order)] == [RefundReason.LATE_PAYMENT]
    assert uow.published_types()[-2:] == ["OrderCancelled", "RefundRequested"]


async def test_a_payment_of_a_cancelled_order_is_refunded(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    async with uow:
        await uow.orders.move(order.order_id, expected=[OrderState.PENDING_PAYMENT], to=OrderState.CANCELLED,
                              cancel_reason=CancelReason.BY_BUYER)  # fmt: skip
    with pytest.raises(FailedPrecondition) as caught:
        await confirm(uow, payment_of(order, "pay-after-cancel"))
    assert caught.value.reason == "ORDER_CANCELLED"
    assert (await read(uow, order.order_id)).cancel_reason is CancelReason.BY_BUYER
    assert [refund.reason for refund in refunds_of(uow, order)] == [RefundReason.LATE_PAYMENT]


async def test_a_second_payment_of_a_paid_order_is_refunded(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    await confirm(uow, payment_of(order, "pay-1"))
    with pytest.raises(FailedPrecondition) as caught:
        await confirm(uow, payment_of(order, "pay-2"))
    assert caught.value.reason == "ORDER_ALREADY_PAID"

    stored = await read(uow, order.order_id)
    assert (stored.state, stored.payment_reference) == (OrderState.PAID, "pay-1")
    (refund,) = refunds_of(uow, order)
    assert (refund.reason, refund.payment_reference) == (RefundReason.DUPLICATE_PAYMENT, "pay-2")
    assert "PaymentRejected" not in uow.published_types()


async def test_a_confirmation_for_an_unknown_order_is_not_found_and_records_nothing(uow: FakeUnitOfWork) -> None:
    order = await mall_order(uow)
    with pytest.raises(NotFound) as caught:
        await confirm(uow, replace(payment_of(order), order_id="mo_none"))
    assert caught.value.reason == "ORDER_NOT_FOUND"
    assert uow.tables.payments == {}
