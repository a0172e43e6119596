"""The moves of one order through the state machine, and the events each move publishes. Shared by the
use cases of orders and of payments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import NoReturn

from pingou.order.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import FailedPrecondition, NotFound
from services.order.domain.model import CancelReason, Order, OrderKind, OrderState, check_transition
from services.order.service_layer.announcements import CANCEL_TO_PROTO, CHANNEL_TO_PROTO, KIND_TO_PROTO
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE, UnitOfWork


async def get_order(uow: UnitOfWork, order_id: str) -> Order:
    order = await uow.orders.order(order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", reason="ORDER_NOT_FOUND")
    return order


def publish_paid(uow: UnitOfWork, order: Order) -> None:
    """OrderPaid, and for a group order the move on to AWAITING_GROUP that comes with it."""
    assert order.paid_at is not None
    uow.publish(
        ORDER_AGGREGATE,
        order.order_id,
        events.OrderPaid(
            order_id=order.order_id,
            user_id=order.user_id,
            amount_minor=order.total_minor,
            currency=order.currency,
            item_count=order.item_count,
            paid_at=timestamp(order.paid_at),
            kind=KIND_TO_PROTO[order.kind],
            channel=CHANNEL_TO_PROTO[order.channel],
            shipping_city=order.shipping_city,
            group_id=order.group_id or "",
            payment_reference=order.payment_reference or "",
        ),
    )
    if order.kind is OrderKind.GROUP:
        uow.publish(
            ORDER_AGGREGATE,
            order.order_id,
            events.OrderAwaitingGroup(order_id=order.order_id, group_id=order.group_id or ""),
        )


async def locked_order(uow: UnitOfWork, order_id: str) -> Order:
    order = await uow.orders.order(order_id, for_update=True)
    if order is None:
        raise NotFound(f"no order {order_id}", reason="ORDER_NOT_FOUND")
    return order


async def move(uow: UnitOfWork, order: Order, to: OrderState, **changes: object) -> Order:
    """The transition, checked against the state machine; the row is locked, so it cannot have moved."""
    check_transition(order.state, to, order_id=order.order_id)
    moved = await uow.orders.move(order.order_id, expected=[order.state], to=to, **changes)
    assert moved, "the order row is locked by this transaction"
    return replace(order, state=to, updated_at=datetime.now(UTC), **changes)  # type: ignore[arg-type]


def publish_cancelled(uow: UnitOfWork, order: Order, *, now: datetime) -> None:
    assert order.cancel_reason is not None
    uow.publish(
        ORDER_AGGREGATE,
        order.order_id,
        events.OrderCancelled(
            order_id=order.order_id,
            user_id=order.user_id,
            reason=CANCEL_TO_PROTO[order.cancel_reason],
            cancelled_at=timestamp(now),
            group_id=order.group_id or "",
        ),
    )


async def cancel(uow: UnitOfWork, order_id: str, *, reason: CancelReason, now: datetime) -> Order:
    order = await move(uow, await locked_order(uow, order_id), OrderState.CANCELLED, cancel_reason=reason)
    publish_cancelled(uow, order, now=now)
    return order


def raise_state(order: Order, why: str, *, reason: str = "INVALID_ORDER_STATE") -> NoReturn:
    raise FailedPrecondition(
        f"order {order.order_id} is {order.state.value.upper()}: {why}",
        reason=reason,
        metadata={"order_id": order.order_id, "state": order.state.value.upper()},
    )
