"""Request validation at the order service's edge: shape only (ids, keys, ranges, moments). States,
prices and permissions are decided behind it. Every request has passed libs.grpckit.wellformed first (no
control characters, no text over its generic cap, no unknown enum value)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from pingou.order.v1 import order_pb2 as pb

from libs.core import BusinessLine, InvalidArgument, user_line
from libs.core.ids import REFERENCE_ID
from libs.core.orders import MAX_PAYMENT_MINOR
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.order.domain.model import line_of
from services.order.entrypoints.mapping import CHANNEL_FROM_PROTO, KIND_FROM_PROTO, STATE_FROM_PROTO

SERVICE = pb.DESCRIPTOR.services_by_name["OrderService"].full_name
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # idempotency keys, references, group and seat ids
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
MAX_ITEMS, MAX_QUANTITY = 50, 999
MAX_PAGE_SIZE = 100
LONGEST_HOLD = timedelta(days=1)  # a seat hold (pay_by) is minutes; a day is plainly a mistake
LONGEST_WINDOW = timedelta(days=7, minutes=5)  # a group rule's window is 10..10080 minutes (7 days)
EARLIEST_AT, LATEST_AT = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
# Free text, where line breaks are words too: the buyer's refund note, the provider's error.
MULTILINE_FIELDS = (
    pb.RequestRefundRequest.DESCRIPTOR.fields_by_name["note"].full_name,
    pb.ReportRefundResultRequest.DESCRIPTOR.fields_by_name["error"].full_name,
)


def _key(problems: Violations, field: str, value: str) -> None:
    if not KEY.match(value):
        problems.add(field, "is required" if not value else "must be 1 to 64 letters, digits or _ . : -")


def _sku_id(problems: Violations, field: str, value: str) -> None:
    if not REFERENCE_ID.match(value):
        problems.add(field, "is required" if not value else "is not a SKU id")


def _order_id(problems: Violations, value: str, field: str = "order_id") -> None:
    try:
        line_of(value, field=field)
    except InvalidArgument:
        problems.add(field, "is required" if not value else "is not an id of this platform (mo_…, po_…, mrf_…, prf_…)")


def _user_of_line(problems: Violations, value: str, line: BusinessLine) -> None:
    try:
        if user_line(value) is not line:
            problems.add("user_id", f"must be a {line} user: this call places {line} orders")
    except InvalidArgument:
        problems.user_id("user_id", value)


def _city(problems: Violations, value: str) -> None:
    problems.text("shipping_city", value.strip(), max_length=40)


def _moment(problems: Violations, field: str, request: object) -> datetime | None:
    if not request.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp = getattr(request, field)
    if not (EARLIEST_AT.timestamp() <= stamp.seconds < LATEST_AT.timestamp() and 0 <= stamp.nanos < 10**9):
        problems.add(field, "must be a moment between the years 2000 and 2100")
        return None
    moment: datetime = stamp.ToDatetime(tzinfo=UTC)
    return moment


def validate_place_mall_order(request: pb.PlaceMallOrderRequest) -> None:
    problems = Violations()
    _key(problems, "idempotency_key", request.idempotency_key)
    _user_of_line(problems, request.user_id, BusinessLine.MALL)
    if not 1 <= len(request.items) <= MAX_ITEMS:
        problems.add("items", f"must hold 1 to {MAX_ITEMS} items")
    skus = [item.sku_id for item in request.items]
    if len(set(skus)) != len(skus):
        problems.add("items", "names a SKU twice (give its quantity instead)")
    for index, item in enumerate(request.items):
        _sku_id(problems, f"items[{index}].sku_id", item.sku_id)
        problems.number(f"items[{index}].quantity", item.quantity, minimum=1, maximum=MAX_QUANTITY)
    _city(problems, request.shipping_city)
    problems.enum("channel", request.channel, allowed=CHANNEL_FROM_PROTO)
    problems.raise_if_any()


def validate_place_group_order(request: pb.PlaceGroupOrderRequest) -> None:
    problems = Violations()
    _key(problems, "idempotency_key", request.idempotency_key)
    _user_of_line(problems, request.user_id, BusinessLine.PINGOU)
    _sku_id(problems, "sku_id", request.sku_id)
    _key(problems, "group_id", request.group_id)
    if request.seat_id:
        _key(problems, "seat_id", request.seat_id)
    problems.number("unit_price_minor", request.unit_price_minor, minimum=0, maximum=MAX_PAYMENT_MINOR)
    if request.unit_price_minor == 0 and not request.group_leader:
        problems.add("unit_price_minor", "is 0, but only a group's leader rides free")
    _city(problems, request.shipping_city)
    problems.enum("channel", request.channel, allowed=CHANNEL_FROM_PROTO)
    now = datetime.now(UTC)
    pay_by = _moment(problems, "pay_by", request)
    ends = _moment(problems, "group_expires_at", request)
    if pay_by is not None and not now < pay_by <= now + LONGEST_HOLD:
        problems.add("pay_by", "must be in the future, within a day")
    if ends is not None and not now < ends <= now + LONGEST_WINDOW:
        problems.add("group_expires_at", "must be in the future, within 7 days")
    if pay_by is not None and ends is not None and pay_by > ends:
        problems.add("pay_by", "is after group_expires_at: a seat cannot be paid after its group ended")
    problems.raise_if_any()


def validate_order_change(request: pb.CancelOrderRequest | pb.ConfirmDeliveryRequest) -> None:
    problems = Violations()
    _order_id(problems, request.order_id)
    _key(problems, "idempotency_key", request.idempotency_key)
    problems.raise_if_any()


def validate_mark_shipped(request: pb.MarkShippedRequest) -> None:
    problems = Violations()
    _order_id(problems, request.order_id)
    _key(problems, "idempotency_key", request.idempotency_key)
    _key(problems, "tracking_number", request.tracking_number)
    problems.raise_if_any()


def validate_request_refund(request: pb.RequestRefundRequest) -> None:
    problems = Violations()
    _order_id(problems, request.order_id)
    _key(problems, "idempotency_key", request.idempotency_key)
    problems.text("note", request.note, min_length=0, max_length=500)
    problems.raise_if_any()


def validate_confirm_payment(request: pb.ConfirmPaymentRequest) -> None:
    problems = Violations()
    _order_id(problems, request.order_id)
    problems.text("intent_id", request.intent_id, max_length=80)
    _key(problems, "payment_reference", request.payment_reference)
    problems.number("amount_minor", request.amount_minor, minimum=1, maximum=MAX_PAYMENT_MINOR)
    if not CURRENCY_CODE.match(request.currency):
        problems.add("currency", "is required" if not request.currency else "is not an ISO 4217 code (like CNY)")
    _moment(problems, "paid_at", request)
    problems.raise_if_any()


def validate_report_refund_result(request: pb.ReportRefundResultRequest) -> None:
    problems = Violations()
    _order_id(problems, request.refund_id, field="refund_id")
    problems.number("attempt", request.attempt, minimum=1, maximum=1000)
    if request.succeeded or request.provider_reference:  # required when succeeded, well-formed when given
        _key(problems, "provider_reference", request.provider_reference)
    problems.text("error", request.error, min_length=0, max_length=500)
    problems.raise_if_any()


def validate_retry_refund(request: pb.RetryRefundRequest) -> None:
    problems = Violations()
    _order_id(problems, request.refund_id, field="refund_id")
    problems.raise_if_any()


def validate_get_order(request: pb.GetOrderRequest) -> None:
    problems = Violations()
    _order_id(problems, request.order_id)
    problems.raise_if_any()


def validate_list_user_orders(request: pb.ListUserOrdersRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    problems.number("page_size", request.page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", request.page_token, min_length=0, max_length=300)
    problems.raise_if_any()


def validate_list_orders_by_state(request: pb.ListOrdersByStateRequest) -> None:
    problems = Violations()
    problems.enum("state", request.state, allowed=STATE_FROM_PROTO)
    if request.kind:
        problems.enum("kind", request.kind, allowed=KIND_FROM_PROTO)
    problems.number("page_size", request.page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", request.page_token, min_length=0, max_length=300)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/PlaceMallOrder": validate_place_mall_order,
    f"/{SERVICE}/PlaceGroupOrder": validate_place_group_order,
    f"/{SERVICE}/CancelOrder": validate_order_change,
    f"/{SERVICE}/ConfirmPayment": validate_confirm_payment,
    f"/{SERVICE}/MarkShipped": validate_mark_shipped,
    f"/{SERVICE}/ConfirmDelivery": validate_order_change,
    f"/{SERVICE}/RequestRefund": validate_request_refund,
    f"/{SERVICE}/ReportRefundResult": validate_report_refund_result,
    f"/{SERVICE}/RetryRefund": validate_retry_refund,
    f"/{SERVICE}/GetOrder": validate_get_order,
    f"/{SERVICE}/ListUserOrders": validate_list_user_orders,
    f"/{SERVICE}/ListOrdersByState": validate_list_orders_by_state,
}
