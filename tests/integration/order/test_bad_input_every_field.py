"""Every field of every order RPC, with each kind of bad value (tests/support/bad_input.py): refused at the
edge as INVALID_ARGUMENT naming the field, writing nothing; never UNKNOWN or INTERNAL. And an order whose
total no payment can cover is refused before any stock is reserved for it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from pingou.order.v1 import order_pb2 as pb

from libs.auth import Role
from libs.convert import timestamp
from libs.core import BusinessLine
from libs.core.orders import MAX_PAYMENT_MINOR
from services.order.entrypoints.validation import MULTILINE_FIELDS, SERVICE
from tests.integration.order.conftest import Shop, status_of
from tests.support.bad_input import Good, Rpc, check_rpc

pytestmark = pytest.mark.infra
MALL, PINGOU = BusinessLine.MALL, BusinessLine.PINGOU
EMPTY = ("empty",)
PAGING = {"page_size": EMPTY, "page_token": EMPTY}
REFUND_ID = "mrf_" + "a" * 26  # well-formed; no such refund


@dataclass(frozen=True)
class Scene:
    """A mall buyer with an order waiting for payment and a paid one, and a pingou SKU and buyer."""

    buyer: str
    sku: str
    unpaid: pb.Order
    paid: pb.Order
    pingou_buyer: str
    pingou_sku: str


async def scene(shop: Shop) -> Scene:
    sku = await shop.new_sku(MALL, stock=100)
    buyer = await shop.register(MALL)
    unpaid = await shop.place_mall(buyer, [(sku, 1)])
    paid = await shop.pay(await shop.place_mall(buyer, [(sku, 1)]))
    return Scene(buyer, sku, unpaid, paid, await shop.register(PINGOU), await shop.new_sku(PINGOU, stock=10))


def new_key(request: pb.PlaceGroupOrderRequest | pb.RequestRefundRequest) -> None:
    request.idempotency_key = f"k-{uuid.uuid4().hex}"


def new_reference(request: pb.ConfirmPaymentRequest) -> None:
    request.payment_reference = f"wx-{uuid.uuid4().hex}"


def payment(shop: Shop, s: Scene) -> pb.ConfirmPaymentRequest:
    request = shop.payment(s.unpaid)
    request.paid_at.CopyFrom(timestamp(datetime.now(UTC)))
    return request


def group_order(s: Scene) -> pb.PlaceGroupOrderRequest:
    now = datetime.now(UTC)
    return pb.PlaceGroupOrderRequest(
        idempotency_key=f"seat-{uuid.uuid4().hex}",
        user_id=s.pingou_buyer,
        sku_id=s.pingou_sku,
        group_id=str(uuid.uuid4()),
        unit_price_minor=1590,
        shipping_city="菏泽",
        channel=pb.CHANNEL_WECHAT_MINI_PROGRAM,
        pay_by=timestamp(now + timedelta(minutes=10)),
        group_expires_at=timestamp(now + timedelta(hours=1)),
        seat_id=f"seat-{uuid.uuid4().hex}",
    )


Table = Callable[[Shop, Scene], Rpc]


def keyed(method: str, message: type[pb.CancelOrderRequest] | type[pb.ConfirmDeliveryRequest]) -> Table:
    def table(shop: Shop, s: Scene) -> Rpc:
        order = s.unpaid if method == "CancelOrder" else s.paid
        good = message(order_id=order.order_id, idempotency_key=f"k-{uuid.uuid4().hex}")
        return Rpc(getattr(shop.orders, method), [Good(good, shop.service(MALL))])

    return table


TABLES: dict[str, Table] = {
    "PlaceMallOrder": lambda shop, s: Rpc(
        shop.orders.PlaceMallOrder,
        [
            Good(
                pb.PlaceMallOrderRequest(
                    idempotency_key=f"k-{uuid.uuid4().hex}",
                    user_id=s.buyer,
                    items=[pb.LineItem(sku_id=s.sku, quantity=2)],
                    shipping_city="临沂",
                    channel=pb.CHANNEL_MALL_APP,
                ),
                shop.as_user(s.buyer),
            )
        ],
    ),
    "PlaceGroupOrder": lambda shop, s: Rpc(
        shop.orders.PlaceGroupOrder,
        [Good(group_order(s), shop.token(PINGOU, subject="groupbuy"))],
        # The seat defaults to the key, the hold to the payment limit, the group's end to the hold's;
        # whole seconds are fine.
        dict.fromkeys(("seat_id", "pay_by", "group_expires_at", "pay_by.nanos", "group_expires_at.nanos"), EMPTY),
        renew=new_key,
    ),
    "CancelOrder": keyed("CancelOrder", pb.CancelOrderRequest),
    "ConfirmPayment": lambda shop, s: Rpc(
        shop.orders.ConfirmPayment,
        [Good(payment(shop, s), shop.payments(MALL))],
        # Unset is now; 2**31 seconds is a moment of 2038 (the payment is then judged late, not malformed).
        {"paid_at": EMPTY, "paid_at.seconds": ("2**31",), "paid_at.nanos": EMPTY},
        renew=new_reference,
    ),
    "MarkShipped": lambda shop, s: Rpc(
        shop.orders.MarkShipped,
        [
            Good(
                pb.MarkShippedRequest(
                    order_id=s.paid.order_id, idempotency_key=f"k-{uuid.uuid4().hex}", tracking_number="SF1234567890"
                ),
                shop.service(MALL),
            )
        ],
    ),
    "ConfirmDelivery": keyed("ConfirmDelivery", pb.ConfirmDeliveryRequest),
    "RequestRefund": lambda shop, s: Rpc(
        shop.orders.RequestRefund,
        [
            Good(
                pb.RequestRefundRequest(
                    order_id=s.paid.order_id, idempotency_key=f"k-{uuid.uuid4().hex}", note="尺码不对\n想退"
                ),
                shop.as_user(s.buyer),
            )
        ],
        {"note": EMPTY},
        MULTILINE_FIELDS,
        renew=new_key,
    ),
    "ReportRefundResult": lambda shop, s: Rpc(
        shop.orders.ReportRefundResult,
        [
            Good(
                pb.ReportRefundResultRequest(
                    refund_id=REFUND_ID, succeeded=True, provider_reference="rf-1", error="ok", attempt=1
                ),
                shop.payments(MALL),
            )
        ],
        {"error": EMPTY},
        MULTILINE_FIELDS,
    ),
    "RetryRefund": lambda shop, s: Rpc(
        shop.orders.RetryRefund,
        [Good(pb.RetryRefundRequest(refund_id=REFUND_ID), shop.token(MALL, Role.OPERATOR, subject="ops"))],
    ),
    "GetOrder": lambda shop, s: Rpc(
        shop.orders.GetOrder, [Good(pb.GetOrderRequest(order_id=s.paid.order_id), shop.as_user(s.buyer))]
    ),
    "ListUserOrders": lambda shop, s: Rpc(
        shop.orders.ListUserOrders,
        [Good(pb.ListUserOrdersRequest(user_id=s.buyer, page_size=5), shop.as_user(s.buyer))],
        PAGING,
    ),
    "ListOrdersByState": lambda shop, s: Rpc(
        shop.orders.ListOrdersByState,
        [
            Good(
                pb.ListOrdersByStateRequest(state=pb.ORDER_STATE_PAID, kind=pb.ORDER_KIND_MALL, page_size=5),
                shop.token(MALL, Role.OPERATOR, subject="ops"),
            )
        ],
        {"kind": EMPTY, **PAGING},  # no kind: both
    ),
}


def test_every_order_rpc_has_a_table() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods}
    assert set(TABLES) == methods


@pytest.mark.parametrize("method", sorted(TABLES))
async def test_every_field_refuses_bad_values_by_name_and_writes_nothing(shop: Shop, method: str) -> None:
    problems = await check_rpc(TABLES[method](shop, await scene(shop)), shop.row_counts)
    assert problems == []


async def test_a_mall_order_no_payment_can_cover_is_refused_before_its_stock_is_reserved(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=10, price=MAX_PAYMENT_MINOR)
    buyer = await shop.register(MALL)
    at_the_cap = await shop.place_mall(buyer, [(sku, 1)])
    assert at_the_cap.total_minor == MAX_PAYMENT_MINOR
    before = (await shop.row_counts(), await shop.stock(MALL, sku))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await shop.place_mall(buyer, [(sku, 2)])
    assert status_of(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, "TOTAL_ABOVE_PAYMENT_CAP")
    assert "items" in (caught.value.details() or "")
    assert (await shop.row_counts(), await shop.stock(MALL, sku)) == before
