"""Orders: their states and the transitions between them, prices, refunds. No infrastructure here.

The states: PENDING_PAYMENT -> PAID -> (group orders: AWAITING_GROUP -> GROUP_COMPLETED) -> SHIPPED ->
DELIVERED, with the side exits CANCELLED (before payment) and REFUNDING -> REFUNDED. `TRANSITIONS` is
the whole machine; the repository moves an order only with a conditional update naming the state it
expects, so two racing changes can never both apply.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from libs.core import BusinessLine, FailedPrecondition, FieldViolation, InvalidArgument
from libs.core.orders import CURRENCY as CURRENCY  # shared with groupbuy, which names a seat's order
from libs.core.orders import ID_CHARS as _ID_CHARS
from libs.core.orders import MAX_PAYMENT_MINOR, ORDER_PREFIX
from libs.core.orders import order_id_for as order_id_for
from libs.core.orders import payment_intent_id as payment_intent_id


class OrderKind(StrEnum):
    MALL = "mall"
    GROUP = "group"


class OrderState(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    AWAITING_GROUP = "awaiting_group"
    GROUP_COMPLETED = "group_completed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


class Channel(StrEnum):
    PINGOU_APP = "pingou_app"
    WECHAT_MINI_PROGRAM = "wechat_mini_program"
    MALL_APP = "mall_app"
    H5 = "h5"


class CancelReason(StrEnum):
    BY_BUYER = "by_buyer"
    PAYMENT_TIMEOUT = "payment_timeout"
    GROUP_FAILED = "group_failed"
    BY_OPERATOR = "by_operator"
    SEAT_RELEASED = "seat_released"  # its group completed without this order's seat


class RefundReason(StrEnum):
    GROUP_FAILED = "group_failed"
    AFTER_SALE = "after_sale"
    LATE_PAYMENT = "late_payment"  # the money arrived after the order was cancelled
    DUPLICATE_PAYMENT = "duplicate_payment"  # a second payment of an order already paid
    PAYMENT_MISMATCH = "payment_mismatch"  # a refused payment (amount, currency or intent): the money goes back
    SEAT_RELEASED = "seat_released"  # its group completed without this order's seat
    STOCK_UNAVAILABLE = "stock_unavailable"  # catalog could not commit the order's stock


class RefundState(StrEnum):
    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


S = OrderState
TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.AWAITING_GROUP, S.SHIPPED, S.REFUNDING}),
    S.AWAITING_GROUP: frozenset({S.GROUP_COMPLETED, S.REFUNDING}),
    S.GROUP_COMPLETED: frozenset({S.SHIPPED, S.REFUNDING}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDING}),
    S.DELIVERED: frozenset({S.REFUNDING}),
    S.CANCELLED: frozenset(),
    S.REFUNDING: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}
# After-sale refunds: paid and not waiting for a group (a group's own failure refunds those orders).
AFTER_SALE_STATES = frozenset({S.PAID, S.GROUP_COMPLETED, S.SHIPPED, S.DELIVERED})
SHIPPABLE = {OrderKind.MALL: S.PAID, OrderKind.GROUP: S.GROUP_COMPLETED}

REFUND_PREFIX = {BusinessLine.MALL: "mrf_", BusinessLine.PINGOU: "prf_"}
_LINE_OF_PREFIX = {prefix: line for mapping in (ORDER_PREFIX, REFUND_PREFIX) for line, prefix in mapping.items()}
_ID = re.compile(rf"^((?:mo|po|mrf|prf)_)[a-z2-7]{{{_ID_CHARS}}}$")
ORDER_ID = re.compile(rf"^(?:mo|po)_[a-z2-7]{{{_ID_CHARS}}}$")  # an order's, not a refund's


def check_transition(current: OrderState, target: OrderState, *, order_id: str) -> None:
    if target not in TRANSITIONS[current]:
        raise FailedPrecondition(
            f"order {order_id} is {current.value.upper()} and cannot become {target.value.upper()}",
            reason="INVALID_ORDER_STATE",
            metadata={"order_id": order_id, "state": current.value.upper()},
        )


def new_refund_id(line: BusinessLine) -> str:
    return REFUND_PREFIX[line] + base64.b32encode(secrets.token_bytes(20)).decode().lower()[:_ID_CHARS]


def line_of(identifier: str, *, field: str) -> BusinessLine:
    """The line an order or refund id belongs to; InvalidArgument naming `field` when it is not one."""
    match = _ID.match(identifier)
    if match is None:
        description = "is required" if not identifier else "is not an order or refund id of this platform"
        raise InvalidArgument(
            f"{field} {description}", reason="INVALID_ID", violations=[FieldViolation(field, description)]
        )
    return _LINE_OF_PREFIX[match.group(1)]


def refund_backoff(attempt: int, *, base: timedelta, ceiling: timedelta = timedelta(hours=1)) -> timedelta:
    """How long to wait for the provider before asking again after `attempt` (1-based): doubling."""
    delay: timedelta = min(base * 2 ** (attempt - 1), ceiling)
    return delay


@dataclass(frozen=True, slots=True)
class OrderItem:
    sku_id: str
    quantity: int
    unit_price_minor: int
    list_price_minor: int
    plus_price: bool = False

    @property
    def amount_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True, slots=True)
class MallPrice:
    price_minor: int
    plus_price_minor: int  # 0: no PLUS price


def price_mall_items(
    wanted: Sequence[tuple[str, int]], prices: Mapping[str, MallPrice], *, plus_member: bool
) -> list[OrderItem]:
    """Items at the listing's price, or its PLUS price for an active member when the listing has one."""
    unlisted = [sku_id for sku_id, _ in wanted if sku_id not in prices]
    if unlisted:
        raise FailedPrecondition(
            f"not for sale on the mall line: {', '.join(unlisted)}",
            reason="NOT_LISTED",
            metadata={"sku_id": unlisted[0]},
        )
    items = []
    for sku_id, quantity in wanted:
        price = prices[sku_id]
        plus = plus_member and 0 < price.plus_price_minor < price.price_minor
        unit = price.plus_price_minor if plus else price.price_minor
        items.append(OrderItem(sku_id, quantity, unit, price.price_minor, plus))
    return items


def payable_total(items: Sequence[OrderItem]) -> int:
    """The order's total, which one payment must be able to cover: an order above the cap could never be
    paid, so it is refused before any stock is reserved for it."""
    total = sum(item.amount_minor for item in items)
    if total > MAX_PAYMENT_MINOR:
        description = f"add up to {total}, above the {MAX_PAYMENT_MINOR} one payment may be"
        raise InvalidArgument(
            f"items {description}", reason="TOTAL_ABOVE_PAYMENT_CAP", violations=[FieldViolation("items", description)]
        )
    return total


@dataclass(frozen=True, slots=True)
class Refund:
    refund_id: str
    order_id: str
    reason: RefundReason
    state: RefundState
    amount_minor: int
    currency: str
    payment_reference: str
    attempts: int
    requested_at: datetime
    updated_at: datetime
    provider_reference: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    user_id: str
    kind: OrderKind
    state: OrderState
    items: tuple[OrderItem, ...]
    total_minor: int
    currency: str
    channel: Channel
    shipping_city: str
    pay_by: datetime
    created_at: datetime
    updated_at: datetime
    group_id: str | None = None
    seat_id: str | None = None
    group_leader: bool = False
    group_expires_at: datetime | None = None
    payment_reference: str | None = None
    paid_at: datetime | None = None
    cancel_reason: CancelReason | None = None
    tracking_number: str | None = None
    refunds: tuple[Refund, ...] = field(default=())

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def intent_id(self) -> str:
        return payment_intent_id(self.order_id)
