"""Isolation (flow 7), who may do what, bad input (a clear status, nothing written) and the queries."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from pingou.order.v1 import order_pb2 as pb

from libs.auth import Role
from libs.convert import timestamp
from libs.core import BusinessLine
from tests.integration.order.conftest import Shop, status_of

MALL, PINGOU = BusinessLine.MALL, BusinessLine.PINGOU


@pytest.fixture(scope="module")
async def mall_order(shop: Shop) -> pb.Order:
    sku = await shop.new_sku(MALL, stock=50)
    buyer = await shop.register(MALL)
    return await shop.place_mall(buyer, [(sku, 1)])


async def _refused(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return status_of(refused.value)


async def test_a_pingou_token_cannot_read_a_mall_order_or_a_mall_users_orders(shop: Shop, mall_order: pb.Order) -> None:
    for roles in ((Role.SERVICE,), (Role.OPERATOR,), (Role.ANALYTICS,)):
        pingou = shop.token(PINGOU, *roles)
        assert await _refused(
            shop.orders.GetOrder(pb.GetOrderRequest(order_id=mall_order.order_id), metadata=pingou)
        ) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "LINE_MISMATCH",
        )
        assert await _refused(
            shop.orders.ListUserOrders(pb.ListUserOrdersRequest(user_id=mall_order.user_id), metadata=pingou)
        ) == (grpc.StatusCode.PERMISSION_DENIED, "LINE_MISMATCH")
    pingou_service = shop.service(PINGOU)
    assert await _refused(shop.orders.ConfirmPayment(shop.payment(mall_order), metadata=pingou_service)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "LINE_MISMATCH",
    )
    assert (await shop.get(mall_order.order_id)).state == pb.ORDER_STATE_PENDING_PAYMENT


async def test_a_buyer_sees_their_own_orders_and_no_one_elses(shop: Shop, mall_order: pb.Order) -> None:
    own = await shop.orders.GetOrder(
        pb.GetOrderRequest(order_id=mall_order.order_id), metadata=shop.as_user(mall_order.user_id)
    )
    assert own.order_id == mall_order.order_id
    stranger = shop.as_user(await shop.register(MALL))
    for call in (
        shop.orders.GetOrder(pb.GetOrderRequest(order_id=mall_order.order_id), metadata=stranger),
        shop.orders.CancelOrder(
            pb.CancelOrderRequest(order_id=mall_order.order_id, idempotency_key="x"), metadata=stranger
        ),
        shop.orders.ListUserOrders(pb.ListUserOrdersRequest(user_id=mall_order.user_id), metadata=stranger),
    ):
        code, _ = await _refused(call)
        assert code == grpc.StatusCode.PERMISSION_DENIED
    # A buyer is not the payment provider, and cannot confirm their own payment.
    assert (
        await _refused(shop.orders.ConfirmPayment(shop.payment(mall_order), metadata=shop.as_user(mall_order.user_id)))
    )[0] == (grpc.StatusCode.PERMISSION_DENIED)


async def test_only_groupbuy_places_group_orders(shop: Shop) -> None:
    sku = await shop.new_sku(PINGOU, stock=5)
    buyer = await shop.register(PINGOU)
    request = pb.PlaceGroupOrderRequest(
        idempotency_key="seat-x",
        user_id=buyer,
        sku_id=sku,
        group_id="g-x",
        unit_price_minor=1590,
        shipping_city="菏泽",
        channel=pb.CHANNEL_PINGOU_APP,
    )
    for metadata in (shop.token(PINGOU, Role.SERVICE, subject="membership"), shop.as_user(buyer)):
        code, _ = await _refused(shop.orders.PlaceGroupOrder(request, metadata=metadata))
        assert code == grpc.StatusCode.PERMISSION_DENIED
    assert await shop.stock(PINGOU, sku) == (5, 0)


async def test_a_call_without_a_token_is_unauthenticated(shop: Shop, mall_order: pb.Order) -> None:
    code, _ = await _refused(shop.orders.GetOrder(pb.GetOrderRequest(order_id=mall_order.order_id)))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def _later(minutes: float) -> Any:
    return timestamp(datetime.now(UTC) + timedelta(minutes=minutes))


# Each bad request is a good one with one thing wrong.
def _mall(o: pb.Order, **wrong: Any) -> pb.PlaceMallOrderRequest:
    good: dict[str, Any] = {
        "idempotency_key": "k",
        "user_id": o.user_id,
        "items": [pb.LineItem(sku_id="s1", quantity=1)],
        "shipping_city": "临沂",
        "channel": pb.CHANNEL_H5,
    }
    return pb.PlaceMallOrderRequest(**{**good, **wrong})


def _group(**wrong: Any) -> pb.PlaceGroupOrderRequest:
    good: dict[str, Any] = {
        "idempotency_key": "k",
        "user_id": "pu_1",
        "sku_id": "s1",
        "group_id": "g1",
        "unit_price_minor": 100,
        "shipping_city": "临沂",
        "channel": pb.CHANNEL_H5,
    }
    return pb.PlaceGroupOrderRequest(**{**good, **wrong})


def _payment(o: pb.Order, **wrong: Any) -> pb.ConfirmPaymentRequest:
    good: dict[str, Any] = {
        "order_id": o.order_id,
        "intent_id": o.payment.intent_id,
        "payment_reference": "r1",
        "amount_minor": 5,
        "currency": "CNY",
    }
    return pb.ConfirmPaymentRequest(**{**good, **wrong})


REFUND = "mrf_" + "a" * 26
# The service each RPC is for, where only one may call it (the others: any service, here the checkout).
CALLERS = {"ConfirmPayment": "payments", "ReportRefundResult": "payments", "PlaceGroupOrder": "groupbuy"}
BAD_REQUESTS: list[tuple[str, str, Callable[[pb.Order], Any]]] = [
    ("PlaceMallOrder", "no items", lambda o: _mall(o, items=[])),
    ("PlaceMallOrder", "zero quantity", lambda o: _mall(o, items=[pb.LineItem(sku_id="s1", quantity=0)])),
    ("PlaceMallOrder", "a SKU twice", lambda o: _mall(o, items=[pb.LineItem(sku_id="s1", quantity=1)] * 2)),
    (
        "PlaceMallOrder",
        "a SKU id catalog would refuse",
        lambda o: _mall(o, items=[pb.LineItem(sku_id="SKU_1", quantity=1)]),
    ),
    ("PlaceMallOrder", "no key", lambda o: _mall(o, idempotency_key="")),
    ("PlaceMallOrder", "no channel", lambda o: _mall(o, channel=pb.CHANNEL_UNSPECIFIED)),
    ("PlaceMallOrder", "no city", lambda o: _mall(o, shipping_city="")),
    ("PlaceMallOrder", "a pingou user", lambda o: _mall(o, user_id="pu_1")),
    ("PlaceGroupOrder", "a mall user", lambda o: _group(user_id=o.user_id)),
    ("PlaceGroupOrder", "a negative price", lambda o: _group(unit_price_minor=-1)),
    ("PlaceGroupOrder", "free but not the leader", lambda o: _group(unit_price_minor=0)),
    ("PlaceGroupOrder", "pay_by in the past", lambda o: _group(pay_by=_later(-1))),
    ("PlaceGroupOrder", "pay_by after the group", lambda o: _group(pay_by=_later(30), group_expires_at=_later(10))),
    ("CancelOrder", "no order id", lambda o: pb.CancelOrderRequest(idempotency_key="k")),
    ("CancelOrder", "a made-up order id", lambda o: pb.CancelOrderRequest(order_id="order-1", idempotency_key="k")),
    ("ConfirmPayment", "a negative amount", lambda o: _payment(o, amount_minor=-5)),
    ("ConfirmPayment", "nothing paid", lambda o: _payment(o, amount_minor=0)),
    ("ConfirmPayment", "no currency", lambda o: _payment(o, currency="")),
    ("ConfirmPayment", "no reference", lambda o: _payment(o, payment_reference="")),
    ("MarkShipped", "no tracking number", lambda o: pb.MarkShippedRequest(order_id=o.order_id, idempotency_key="k")),
    ("ConfirmDelivery", "no key", lambda o: pb.ConfirmDeliveryRequest(order_id=o.order_id)),
    (
        "RequestRefund",
        "a long note",
        lambda o: pb.RequestRefundRequest(order_id=o.order_id, idempotency_key="k", note="长" * 501),
    ),
    ("ReportRefundResult", "no attempt", lambda o: pb.ReportRefundResultRequest(refund_id=REFUND, succeeded=False)),
    (
        "ReportRefundResult",
        "success without a reference",
        lambda o: pb.ReportRefundResultRequest(refund_id=REFUND, attempt=1, succeeded=True),
    ),
    ("RetryRefund", "an order id", lambda o: pb.RetryRefundRequest(refund_id="x")),
    ("GetOrder", "an empty id", lambda o: pb.GetOrderRequest()),
    ("ListUserOrders", "a page too big", lambda o: pb.ListUserOrdersRequest(user_id=o.user_id, page_size=1000)),
    (
        "ListUserOrders",
        "a forged page token",
        lambda o: pb.ListUserOrdersRequest(user_id=o.user_id, page_token="bm90LWEtdG9rZW4"),
    ),
    ("ListOrdersByState", "no state", lambda o: pb.ListOrdersByStateRequest()),
]


@pytest.mark.parametrize(("method", "case", "build"), BAD_REQUESTS, ids=[f"{m}: {c}" for m, c, _ in BAD_REQUESTS])
async def test_bad_input_is_invalid_argument_and_writes_nothing(
    shop: Shop, mall_order: pb.Order, method: str, case: str, build: Callable[[pb.Order], Any]
) -> None:
    line = PINGOU if method == "PlaceGroupOrder" and "mall" not in case else MALL
    metadata = shop.token(line, Role.SERVICE, subject=CALLERS.get(method, "checkout"))
    before = await shop.row_counts()

    code, _ = await _refused(getattr(shop.orders, method)(build(mall_order), metadata=metadata))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert await shop.row_counts() == before


async def test_a_users_orders_come_newest_first_in_pages_that_never_repeat_or_skip(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=100)
    buyer = await shop.register(MALL)
    placed = [(await shop.place_mall(buyer, [(sku, 1)])).order_id for _ in range(7)]
    metadata = shop.as_user(buyer)

    seen, token = [], ""
    while True:
        page = await shop.orders.ListUserOrders(
            pb.ListUserOrdersRequest(user_id=buyer, page_size=3, page_token=token), metadata=metadata
        )
        seen += [order.order_id for order in page.orders]
        token = page.next_page_token
        if not token:
            break

    assert seen == list(reversed(placed))
    # A token of this listing means nothing for another buyer's.
    other = await shop.register(MALL)
    first = await shop.orders.ListUserOrders(pb.ListUserOrdersRequest(user_id=buyer, page_size=3), metadata=metadata)
    assert await _refused(
        shop.orders.ListUserOrders(
            pb.ListUserOrdersRequest(user_id=other, page_token=first.next_page_token), metadata=shop.service(MALL)
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_operators_list_orders_by_state(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=10)
    order = await shop.place_mall(await shop.register(MALL), [(sku, 1)], key=f"k-{uuid.uuid4().hex}")
    await shop.pay(order)
    operator = shop.token(MALL, Role.OPERATOR, subject="ops")

    paid = await shop.orders.ListOrdersByState(
        pb.ListOrdersByStateRequest(state=pb.ORDER_STATE_PAID, kind=pb.ORDER_KIND_MALL, page_size=100),
        metadata=operator,
    )

    assert order.order_id in {found.order_id for found in paid.orders}
    assert {found.state for found in paid.orders} == {pb.ORDER_STATE_PAID}
    code, _ = await _refused(
        shop.orders.ListOrdersByState(
            pb.ListOrdersByStateRequest(state=pb.ORDER_STATE_PAID), metadata=shop.as_user(order.user_id)
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
