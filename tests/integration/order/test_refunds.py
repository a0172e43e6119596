"""Refunds: after-sale requests, the provider's answers, and asking again while it stays silent."""

from __future__ import annotations

import grpc
import pytest
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.order.conftest import Shop, status_of
from tests.support.waiting import eventually, eventually_equal

MALL = BusinessLine.MALL


async def _delivered(shop: Shop) -> pb.Order:
    sku = await shop.new_sku(MALL, stock=5, price=8800)
    buyer = await shop.register(MALL)
    order = await shop.place_mall(buyer, [(sku, 1)])
    await shop.pay(order)
    operator = shop.token(MALL, Role.OPERATOR, subject="ops")
    await shop.orders.MarkShipped(
        pb.MarkShippedRequest(order_id=order.order_id, idempotency_key="ship", tracking_number="YT99"),
        metadata=operator,
    )
    await shop.orders.ConfirmDelivery(
        pb.ConfirmDeliveryRequest(order_id=order.order_id, idempotency_key="recv"), metadata=shop.as_user(buyer)
    )
    return order


async def _after_sale(shop: Shop, order: pb.Order) -> pb.Refund:
    refunding = await shop.orders.RequestRefund(
        pb.RequestRefundRequest(order_id=order.order_id, idempotency_key="rma-1", note="尺码不合适"),
        metadata=shop.as_user(order.user_id),
    )
    assert refunding.state == pb.ORDER_STATE_REFUNDING
    (refund,) = refunding.refunds
    assert isinstance(refund, pb.Refund)
    return refund


def _result(refund: pb.Refund, *, attempt: int, succeeded: bool, error: str = "") -> pb.ReportRefundResultRequest:
    return pb.ReportRefundResultRequest(
        refund_id=refund.refund_id,
        attempt=attempt,
        succeeded=succeeded,
        provider_reference="wxr-" + refund.refund_id if succeeded else "",
        error=error,
    )


async def test_an_after_sale_refund_of_a_delivered_order_completes_when_the_provider_confirms_it(shop: Shop) -> None:
    order = await _delivered(shop)
    refund = await _after_sale(shop, order)
    assert (refund.reason, refund.amount_minor, refund.state) == (
        pb.REFUND_REASON_AFTER_SALE,
        8800,
        pb.REFUND_STATE_REQUESTED,
    )

    provider = shop.payments(MALL)
    done = await shop.orders.ReportRefundResult(_result(refund, attempt=1, succeeded=True), metadata=provider)
    again = await shop.orders.ReportRefundResult(_result(refund, attempt=1, succeeded=True), metadata=provider)

    assert done.state == again.state == pb.REFUND_STATE_SUCCEEDED
    assert await shop.state_of(order.order_id) == pb.ORDER_STATE_REFUNDED
    assert await shop.event_names(order.order_id) == [
        "OrderPlaced",
        "OrderPaid",
        "OrderShipped",
        "OrderDelivered",
        "OrderRefunding",
        "RefundRequested",
        "RefundSucceeded",
        "OrderRefunded",
    ]
    refunded = [e for e in await shop.events_of(order.order_id) if isinstance(e, events.OrderRefunded)]
    assert (refunded[0].amount_minor, refunded[0].user_id) == (8800, order.user_id)


async def test_a_failed_refund_is_asked_again_then_given_up_after_the_last_attempt(shop: Shop) -> None:
    order = await _delivered(shop)
    refund = await _after_sale(shop, order)
    provider = shop.payments(MALL)

    failed = await shop.orders.ReportRefundResult(
        _result(refund, attempt=1, succeeded=False, error="bank offline"), metadata=provider
    )
    assert failed.state == pb.REFUND_STATE_REQUESTED  # not final: asked again after a back-off

    async def attempts_made() -> int:
        return (await shop.get(order.order_id)).refunds[0].attempts

    # The harness allows 3 attempts; the provider stays silent after the first, so the job asks twice more
    # and then gives up.
    await eventually_equal(attempts_made, 3)

    async def given_up() -> bool:
        return (await shop.get(order.order_id)).refunds[0].state == pb.REFUND_STATE_FAILED

    await eventually(given_up, timeout=30)
    requested = [e for e in await shop.events_of(order.order_id) if isinstance(e, events.RefundRequested)]
    assert [event.refund.attempts for event in requested] == [1, 2, 3]
    finals = [e.final for e in await shop.events_of(order.order_id) if isinstance(e, events.RefundFailed)]
    assert finals == [False, True]
    assert await shop.state_of(order.order_id) == pb.ORDER_STATE_REFUNDING  # an operator's case now

    # An operator asks once more; this time the provider comes through.
    operator = shop.token(MALL, Role.OPERATOR, subject="ops")
    retried = await shop.orders.RetryRefund(pb.RetryRefundRequest(refund_id=refund.refund_id), metadata=operator)
    assert (retried.state, retried.attempts) == (pb.REFUND_STATE_REQUESTED, 4)
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # only a refund that failed for good is retried
        await shop.orders.RetryRefund(pb.RetryRefundRequest(refund_id=refund.refund_id), metadata=operator)
    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_NOT_FAILED")
    done = await shop.orders.ReportRefundResult(_result(refund, attempt=4, succeeded=True), metadata=provider)
    assert done.state == pb.REFUND_STATE_SUCCEEDED
    assert await shop.state_of(order.order_id) == pb.ORDER_STATE_REFUNDED


async def test_an_unpaid_order_cannot_be_refunded(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5)
    buyer = await shop.register(MALL)
    order = await shop.place_mall(buyer, [(sku, 1)])

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.RequestRefund(
            pb.RequestRefundRequest(order_id=order.order_id, idempotency_key="rma"), metadata=shop.as_user(buyer)
        )

    assert status_of(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_ORDER_STATE")
