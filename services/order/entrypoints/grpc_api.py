"""The gRPC adapter: request validation, authorization, proto <-> commands. Use cases do the work."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
from pingou.order.v1 import order_pb2 as pb
from pingou.order.v1 import order_pb2_grpc as pb_grpc

from libs.auth import Role, authorize_user_access, current_principal, require_line, require_role, require_service
from libs.core import BusinessLine, InvalidArgument, user_line
from libs.core.ids import REFERENCE_ID
from libs.core.paging import bad_page_token, decode_page_token, encode_page_token
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from libs.logs import get_logger
from services.order.adapters.protos import (
    CHANNEL_FROM_PROTO,
    KIND_FROM_PROTO,
    STATE_FROM_PROTO,
    order_to_proto,
    refund_to_proto,
)
from services.order.domain.model import CancelReason, Order, line_of
from services.order.service_layer import access, orders, payments, refunds, transitions
from services.order.service_layer.orders import MemberCheck, PlaceGroupOrder, PlaceMallOrder, StockAndPrices, digest_of
from services.order.service_layer.payments import PaymentConfirmation
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.refunds import RefundResult
from services.order.service_layer.unit_of_work import UnitOfWork

SERVICE = pb.DESCRIPTOR.services_by_name["OrderService"].full_name
# The calls that change one order, keyed by the order id and an idempotency key.
OrderChange = pb.CancelOrderRequest | pb.MarkShippedRequest | pb.ConfirmDeliveryRequest | pb.RequestRefundRequest
log = get_logger(__name__)
KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # idempotency keys, references, group and seat ids
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT_MINOR = 100_000_000  # one million yuan
MAX_ITEMS, MAX_QUANTITY = 50, 999
MAX_PAGE_SIZE = 100
LONGEST_HOLD = timedelta(days=1)  # a seat hold (pay_by) is minutes; a day is plainly a mistake
LONGEST_WINDOW = timedelta(days=7, minutes=5)  # groups last up to 7 days (SPEC 2.3: 10..10080 minutes)
EARLIEST_AT, LATEST_AT = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

# Who may do what (besides the buyer, where a method allows the buyer).
PLACERS = (Role.SERVICE, Role.OPERATOR)
SHIPPERS = (Role.SERVICE, Role.OPERATOR)  # merchants, once orders know whose goods they hold
CHANGERS = (Role.SERVICE, Role.OPERATOR)
READERS = (Role.SERVICE, Role.OPERATOR, Role.ANALYTICS)


# --- validation at the edge (shape only; states, prices and permissions come later)


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
    problems.number("unit_price_minor", request.unit_price_minor, minimum=0, maximum=MAX_AMOUNT_MINOR)
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
    problems.number("amount_minor", request.amount_minor, minimum=1, maximum=MAX_AMOUNT_MINOR)
    if not CURRENCY_CODE.match(request.currency):
        problems.add("currency", "is required" if not request.currency else "is not an ISO 4217 code (like CNY)")
    _moment(problems, "paid_at", request)
    problems.raise_if_any()


def validate_report_refund_result(request: pb.ReportRefundResultRequest) -> None:
    problems = Violations()
    _order_id(problems, request.refund_id, field="refund_id")
    problems.number("attempt", request.attempt, minimum=1, maximum=1000)
    if request.succeeded:
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


def _page(found: list[Order], size: int, scope: str) -> pb.ListOrdersResponse:
    token = ""
    if len(found) > size:
        last = found[size - 1]
        token = encode_page_token([last.created_at.isoformat(), last.order_id], scope=scope)
    return pb.ListOrdersResponse(orders=[order_to_proto(order) for order in found[:size]], next_page_token=token)


def _after(token: str, scope: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    created_at, order_id = decode_page_token(token, scope=scope, shape=(str, str))
    try:
        return datetime.fromisoformat(str(created_at)), str(order_id)
    except ValueError:
        raise bad_page_token() from None


# --- the servicer


class OrderServicer(pb_grpc.OrderServiceServicer):
    def __init__(
        self,
        *,
        pools: Mapping[BusinessLine, asyncpg.Pool],
        catalog: StockAndPrices,
        membership: MemberCheck,
        topic_prefix: str,
        policy: OrderPolicy,
        group_order_callers: frozenset[str],
        payment_callers: frozenset[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._group_order_callers = group_order_callers
        self._payment_callers = payment_callers
        self._pools = pools
        self._catalog = catalog
        self._membership = membership
        self._prefix = topic_prefix
        self._policy = policy
        self._now = clock

    def _uow(self, line: BusinessLine) -> Callable[[], UnitOfWork]:
        pool = self._pools[line]
        return lambda: UnitOfWork(pool, line, topic_prefix=self._prefix)

    async def _authorize_order(self, order_id: str, *, roles: tuple[Role, ...], buyer: bool) -> BusinessLine:
        """The order's line must be the caller's; then the caller holds one of `roles`, or (when `buyer`)
        is the order's buyer. Every call naming an order comes through here, so here a pingou order not
        placed yet is waited for: its id came from the join, and groupbuy's SeatHeld places it a few
        milliseconds later. A mall order exists once the call placing it answered: no wait."""
        principal = current_principal()
        line = line_of(order_id, field="order_id")
        require_line(principal, line)
        staff = principal.has_role(*roles)
        if not staff and not (buyer and principal.has_role(Role.USER)):
            require_role(principal, *roles)  # refuses: neither one of `roles` nor the buyer
        wait = self._policy.placement_wait if line is BusinessLine.PINGOU else timedelta(0)
        if staff and not wait:
            return line  # nothing to wait for, nothing to check: the use case finds the order or says NOT_FOUND
        order_buyer = await access.buyer_of(self._uow(line), order_id, wait=wait)
        if not staff:
            access.check_buyer(order_buyer, order_id, principal.subject)
        return line

    async def PlaceMallOrder(self, request: pb.PlaceMallOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        authorize_user_access(current_principal(), request.user_id, roles=PLACERS, allow_self=True)
        command = PlaceMallOrder(
            idempotency_key=request.idempotency_key,
            user_id=request.user_id,
            items=tuple((item.sku_id, item.quantity) for item in request.items),
            shipping_city=request.shipping_city.strip(),
            channel=CHANNEL_FROM_PROTO[request.channel],
        )
        return await orders.place_mall_order(
            self._uow(BusinessLine.MALL),
            self._catalog,
            self._membership,
            command,
            digest=digest_of(request),
            policy=self._policy,
            now=self._now(),
        )

    async def PlaceGroupOrder(self, request: pb.PlaceGroupOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        authorize_user_access(current_principal(), request.user_id, roles=(Role.SERVICE,))
        require_service(current_principal(), self._group_order_callers, "place group orders")
        now = self._now()
        pay_by = (
            request.pay_by.ToDatetime(tzinfo=UTC) if request.HasField("pay_by") else now + self._policy.payment_limit
        )
        ends = request.group_expires_at.ToDatetime(tzinfo=UTC) if request.HasField("group_expires_at") else pay_by
        command = PlaceGroupOrder(
            idempotency_key=request.idempotency_key,
            user_id=request.user_id,
            sku_id=request.sku_id,
            group_id=request.group_id,
            seat_id=request.seat_id or request.idempotency_key,
            group_leader=request.group_leader,
            unit_price_minor=request.unit_price_minor,
            shipping_city=request.shipping_city.strip(),
            channel=CHANNEL_FROM_PROTO[request.channel],
            pay_by=pay_by,
            group_expires_at=max(ends, pay_by),
        )
        return await orders.place_group_order(
            self._uow(BusinessLine.PINGOU),
            self._catalog,
            command,
            digest=digest_of(request),
            policy=self._policy,
            now=now,
        )

    async def _change_order(
        self,
        request: OrderChange,
        *,
        roles: tuple[Role, ...],
        buyer: bool,
        change: Callable[[UnitOfWork, datetime], Awaitable[Order]],
    ) -> pb.Order:
        """A keyed change of one order: authorized, then run once per idempotency key (scoped to the order)."""
        line = await self._authorize_order(request.order_id, roles=roles, buyer=buyer)
        now = self._now()
        return await orders.keyed(
            self._uow(line),
            scope=request.order_id,
            key=request.idempotency_key,
            method=type(request).__name__.removesuffix("Request"),
            digest=digest_of(request),
            change=lambda uow: change(uow, now),
        )

    async def CancelOrder(self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        reason = CancelReason.BY_OPERATOR if current_principal().has_role(*CHANGERS) else CancelReason.BY_BUYER
        return await self._change_order(
            request,
            roles=CHANGERS,
            buyer=True,
            change=lambda uow, now: transitions.cancel(uow, request.order_id, reason=reason, now=now),
        )

    async def ConfirmPayment(self, request: pb.ConfirmPaymentRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        line = await self._authorize_order(request.order_id, roles=(Role.SERVICE,), buyer=False)
        require_service(current_principal(), self._payment_callers, "confirm payments")
        now = self._now()
        payment = PaymentConfirmation(
            order_id=request.order_id,
            intent_id=request.intent_id,
            payment_reference=request.payment_reference,
            amount_minor=request.amount_minor,
            currency=request.currency,
            paid_at=request.paid_at.ToDatetime(tzinfo=UTC) if request.HasField("paid_at") else now,
        )
        return await payments.confirm_payment(self._uow(line), payment, policy=self._policy, now=now)

    async def MarkShipped(self, request: pb.MarkShippedRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return await self._change_order(
            request,
            roles=SHIPPERS,
            buyer=False,
            change=lambda uow, now: orders.mark_shipped(
                uow, request.order_id, tracking_number=request.tracking_number, now=now
            ),
        )

    async def ConfirmDelivery(self, request: pb.ConfirmDeliveryRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return await self._change_order(
            request,
            roles=CHANGERS,
            buyer=True,
            change=lambda uow, now: orders.confirm_delivery(uow, request.order_id, now=now),
        )

    async def RequestRefund(self, request: pb.RequestRefundRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        return await self._change_order(
            request,
            roles=(Role.OPERATOR,),
            buyer=True,
            change=lambda uow, now: orders.request_after_sale_refund(
                uow, request.order_id, policy=self._policy, now=now
            ),
        )

    async def ReportRefundResult(
        self, request: pb.ReportRefundResultRequest, context: grpc.aio.ServicerContext
    ) -> pb.Refund:
        principal = current_principal()
        line = line_of(request.refund_id, field="refund_id")
        require_line(principal, line)
        require_service(current_principal(), self._payment_callers, "report refund results")
        result = RefundResult(
            refund_id=request.refund_id,
            attempt=request.attempt,
            succeeded=request.succeeded,
            provider_reference=request.provider_reference,
            error=request.error,
        )
        refund = await refunds.report_refund_result(self._uow(line), result, policy=self._policy, now=self._now())
        return refund_to_proto(refund)

    async def RetryRefund(self, request: pb.RetryRefundRequest, context: grpc.aio.ServicerContext) -> pb.Refund:
        principal = current_principal()
        line = line_of(request.refund_id, field="refund_id")
        require_line(principal, line)
        require_role(principal, Role.OPERATOR)
        refund = await refunds.retry_refund(self._uow(line), request.refund_id, policy=self._policy, now=self._now())
        return refund_to_proto(refund)

    async def GetOrder(self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext) -> pb.Order:
        line = await self._authorize_order(request.order_id, roles=READERS, buyer=True)
        async with self._uow(line)() as uow:
            return order_to_proto(await transitions.get_order(uow, request.order_id))

    async def ListUserOrders(
        self, request: pb.ListUserOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        line = authorize_user_access(current_principal(), request.user_id, roles=READERS, allow_self=True)
        size = request.page_size or 20
        scope = f"user:{request.user_id}"
        after = _after(request.page_token, scope)
        async with self._uow(line)() as uow:
            found = await uow.orders.user_orders(request.user_id, after=after, limit=size + 1)
        return _page(found, size, scope)

    async def ListOrdersByState(
        self, request: pb.ListOrdersByStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        principal = current_principal()
        require_role(principal, Role.OPERATOR, Role.SERVICE)
        line = principal.line
        size = request.page_size or 50
        state = STATE_FROM_PROTO[request.state]
        kind = KIND_FROM_PROTO.get(request.kind)
        scope = f"state:{line}:{state}:{kind}"
        after = _after(request.page_token, scope)
        async with self._uow(line)() as uow:
            found = await uow.orders.orders_in_state(state, kind=kind, after=after, limit=size + 1)
        return _page(found, size, scope)
