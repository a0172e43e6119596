"""The payment boundary: confirmations idempotent by the provider's reference, amounts checked, late and
double payments refunded, and the payment-timeout job that cancels unpaid orders and frees their stock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as catalog_pb
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.auth import Role
from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from libs.grpckit.errors import reason_of
from tests.integration.order.conftest import Shop, status_of
from tests.support.waiting import eventually, eventually_equal

MALL = BusinessLine.MALL


async def _ordered(shop: Shop, *, stock: int = 10, quantity: int = 1) -> tuple[pb.Order, str]:
    sku = await shop.new_sku(MALL, stock=stock, price=2500)
    buyer = await shop.register(MALL)
    return await shop.place_mall(buyer, [(sku, quantity)]), sku


async def test_the_same_confirmation_five_times_at_once_moves_the_order_once_and_emits_one_event(
    shop: Shop,
) -> None:
    order, _ = await _ordered(shop)
    request = shop.payment(order, reference=f"wx-{uuid.uuid4().hex}")
    metadata = shop.payments(MALL)

    answers = await asyncio.gather(*[shop.orders.ConfirmPayment(request, metadata=metadata) for _ in range(5)])

    assert {answer.state for answer in answers} == {pb.ORDER_STATE_PAID}
    assert len({answer.SerializeToString(deterministic=True) for answer in answers}) == 1  # one answer, five times
    assert await shop.event_names(order.order_id) == ["OrderPlaced", "OrderPaid"]
    assert (
        await shop.count("SELECT count(*) FROM order_mall.payment_confirmations WHERE order_id = $1", order.order_id)
        == 1
    )


async def test_a_wrong_amount_is_refused_recorded_refunded_and_leaves_the_order_unpaid(shop: Shop) -> None:
    order, _ = await _ordered(shop)
    reference = f"wx-{uuid.uuid4().hex}"

    for _ in range(2):  # a repeat is answered as the first was
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.pay(order, reference=reference, amount=order.total_minor - 1)
        assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_AMOUNT_MISMATCH")

    assert await shop.state_of(order.order_id) == pb.ORDER_STATE_PENDING_PAYMENT
    recorded = await shop.fetch(
        "SELECT outcome, amount_minor FROM order_mall.payment_confirmations WHERE payment_reference = $1", reference
    )
    assert [tuple(row) for row in recorded] == [("amount_mismatch", order.total_minor - 1)]
    rejected = [event for event in await shop.events_of(order.order_id) if isinstance(event, events.PaymentRejected)]
    assert [event.reason for event in rejected] == ["PAYMENT_AMOUNT_MISMATCH"]
    # The money the provider took goes back, once however often the confirmation is repeated.
    refunds = (await shop.get(order.order_id)).refunds
    assert [(r.reason, r.amount_minor) for r in refunds] == [(pb.REFUND_REASON_PAYMENT_MISMATCH, order.total_minor - 1)]
    # The right amount still pays it.
    assert (await shop.pay(order)).state == pb.ORDER_STATE_PAID


async def test_a_second_payment_of_a_paid_order_is_refused_and_refunded(shop: Shop) -> None:
    order, _ = await _ordered(shop)
    await shop.pay(order)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.pay(order, reference="wx-second-" + uuid.uuid4().hex)

    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_ALREADY_PAID")
    current = await shop.get(order.order_id)
    assert current.state == pb.ORDER_STATE_PAID
    assert [(refund.reason, refund.state) for refund in current.refunds] == [
        (pb.REFUND_REASON_DUPLICATE_PAYMENT, pb.REFUND_STATE_REQUESTED)
    ]


async def test_an_unpaid_order_past_its_limit_is_cancelled_and_its_stock_is_back(shop: Shop) -> None:
    order, sku = await _ordered(shop, stock=5, quantity=2)
    assert await shop.stock(MALL, sku) == (3, 2)

    # Travel in time: the payment limit ran out, and the grace for confirming a payment made by then, a
    # second ago.
    await shop.fetch(
        "UPDATE order_mall.orders SET pay_by = now() - interval '1 second' - $2::interval WHERE order_id = $1",
        order.order_id,
        PAYMENT_CONFIRMATION_GRACE,
    )

    async def cancelled() -> bool:
        return await shop.state_of(order.order_id) == pb.ORDER_STATE_CANCELLED

    await eventually(cancelled)
    await eventually_equal(lambda: shop.stock(MALL, sku), (5, 0))  # catalog read OrderCancelled
    current = await shop.get(order.order_id)
    assert current.cancel_reason == pb.CANCEL_REASON_PAYMENT_TIMEOUT
    cancellations = [e for e in await shop.events_of(order.order_id) if isinstance(e, events.OrderCancelled)]
    assert [event.reason for event in cancellations] == [pb.CANCEL_REASON_PAYMENT_TIMEOUT]

    # The money that arrives now is refused and goes back.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.pay(order)
    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_CANCELLED")
    refunds = (await shop.get(order.order_id)).refunds
    assert [(refund.reason, refund.amount_minor) for refund in refunds] == [
        (pb.REFUND_REASON_LATE_PAYMENT, order.total_minor)
    ]


async def test_only_the_payment_provider_confirms_payments(shop: Shop) -> None:
    order, _ = await _ordered(shop)
    before = await shop.row_counts()

    for caller in ("catalog", "membership", "groupbuy"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.orders.ConfirmPayment(
                shop.payment(order), metadata=shop.token(MALL, Role.SERVICE, subject=caller)
            )
        assert status_of(refused.value) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")

    assert await shop.row_counts() == before


async def test_a_paid_order_whose_stock_was_lost_is_refunded(shop: Shop) -> None:
    order, sku = await _ordered(shop, stock=3)
    # Catalog released the hold before the payment was read (a lagging consumer, say).
    await shop.catalog.ReleaseReservation(
        catalog_pb.ReservationRequest(line=LINE_TO_PROTO[MALL], order_id=order.order_id),
        metadata=shop.as_order_service(MALL),
    )

    assert (await shop.pay(order)).state == pb.ORDER_STATE_PAID

    async def refunding() -> bool:
        return await shop.state_of(order.order_id) == pb.ORDER_STATE_REFUNDING

    await eventually(refunding)
    refunds = (await shop.get(order.order_id)).refunds
    assert [(r.reason, r.amount_minor) for r in refunds] == [(pb.REFUND_REASON_STOCK_UNAVAILABLE, order.total_minor)]
    assert await shop.stock(MALL, sku) == (3, 0)  # nothing taken twice, nothing lost


async def test_a_buyer_cancels_before_paying_and_a_retry_gets_the_same_answer(shop: Shop) -> None:
    order, sku = await _ordered(shop, stock=4)
    request = pb.CancelOrderRequest(order_id=order.order_id, idempotency_key="changed-my-mind")

    first = await shop.orders.CancelOrder(request, metadata=shop.as_user(order.user_id))
    again = await shop.orders.CancelOrder(request, metadata=shop.as_user(order.user_id))

    assert first == again
    assert (first.state, first.cancel_reason) == (pb.ORDER_STATE_CANCELLED, pb.CANCEL_REASON_BY_BUYER)
    await eventually_equal(lambda: shop.stock(MALL, sku), (4, 0))
    assert await shop.event_names(order.order_id) == ["OrderPlaced", "OrderCancelled"]
    # A new key asks again, and a cancelled order cannot be cancelled twice.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CancelOrder(
            pb.CancelOrderRequest(order_id=order.order_id, idempotency_key="again"),
            metadata=shop.as_user(order.user_id),
        )
    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_ORDER_STATE")


async def test_a_payment_racing_a_cancellation_either_pays_the_order_or_is_refunded_never_both(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=100, price=2500)
    buyer = await shop.register(MALL)
    orders = [await shop.place_mall(buyer, [(sku, 1)]) for _ in range(20)]

    async def outcome(call: Awaitable[pb.Order]) -> str:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            return str(reason_of(error))
        return "ok"

    for order in orders:
        cancel = shop.orders.CancelOrder(
            pb.CancelOrderRequest(order_id=order.order_id, idempotency_key="race"), metadata=shop.as_user(buyer)
        )
        paid, cancelled = await asyncio.gather(outcome(shop.pay(order)), outcome(cancel))
        final = await shop.get(order.order_id)
        if paid == "ok":  # the payment came first: the cancellation found a paid order
            assert (cancelled, final.state, list(final.refunds)) == ("INVALID_ORDER_STATE", pb.ORDER_STATE_PAID, [])
        else:  # the cancellation came first: the money goes back
            assert (paid, cancelled, final.state) == ("ORDER_CANCELLED", "ok", pb.ORDER_STATE_CANCELLED)
            assert [(r.reason, r.amount_minor) for r in final.refunds] == [(pb.REFUND_REASON_LATE_PAYMENT, 2500)]
