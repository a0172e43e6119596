"""Use cases of orders: placing (mall and group, and a seat's order from groupbuy's SeatHeld),
cancelling, shipping, delivery, after-sale refunds, queries, and the payment-timeout job.

Calls that change an order take an idempotency key. The key is claimed in the transaction that makes
the change and stores the answer given, so a retry (or a concurrent twin, which waits on the key) gets
the first call's answer; a key reused for a different request is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from pingou.order.v1 import events_pb2 as events

from libs.convert import timestamp
from libs.core import AlreadyExists, BusinessLine, InvalidArgument
from libs.core.orders import pay_by_closed_before
from libs.jobs import Job, Settled, settle_together
from libs.logs import get_logger
from services.order.domain.model import (
    AFTER_SALE_STATES,
    CURRENCY,
    SHIPPABLE,
    CancelReason,
    Channel,
    MallPrice,
    Order,
    OrderItem,
    OrderKind,
    OrderState,
    RefundReason,
    check_transition,
    new_refund_id,
    order_id_for,
    payable_total,
    price_mall_items,
)
from services.order.service_layer.announcements import (
    REFUND_REASON_TO_PROTO,
    answer_of,
    order_from_answer,
    order_to_proto,
)
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.refunds import request_refund_of
from services.order.service_layer.transitions import (
    locked_order,
    move,
    publish_cancelled,
    publish_paid,
    raise_state,
)
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE, UnitOfWork

log = get_logger(__name__)

MakeUnitOfWork = Callable[[], UnitOfWork]


class StockAndPrices(Protocol):
    """What placing an order needs from catalog (the gRPC adapter, or a fake in unit tests)."""

    async def mall_prices(self, sku_ids: Sequence[str]) -> dict[str, MallPrice]: ...

    async def reserve(
        self, line: BusinessLine, order_id: str, items: Sequence[tuple[str, int]], *, hold: timedelta
    ) -> None: ...


class MemberCheck(Protocol):
    async def is_member(self, user_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class PlaceMallOrder:
    idempotency_key: str
    user_id: str
    items: tuple[tuple[str, int], ...]
    shipping_city: str
    channel: Channel


@dataclass(frozen=True, slots=True)
class PlaceGroupOrder:
    idempotency_key: str
    user_id: str
    sku_id: str
    group_id: str
    seat_id: str
    group_leader: bool
    unit_price_minor: int
    shipping_city: str
    channel: Channel
    pay_by: datetime
    group_expires_at: datetime


# --- idempotency keys


async def replayed(uow: UnitOfWork, scope: str, key: str, *, method: str, digest: bytes) -> Order | None:
    """The answer of an earlier call with this key (the order as it answered), or None if there was none.
    `digest` identifies the request (the API's digest of its message)."""
    stored = await uow.orders.keyed_response(scope, key)
    if stored is None:
        return None
    if stored["method"] != method or bytes(stored["request_digest"]) != digest:
        raise AlreadyExists(
            f"idempotency key {key!r} was already used for a different request", reason="IDEMPOTENCY_KEY_REUSED"
        )
    return order_from_answer(stored["response"])


async def keyed(
    make_uow: MakeUnitOfWork,
    *,
    scope: str,
    key: str,
    method: str,
    digest: bytes,
    change: Callable[[UnitOfWork], Awaitable[Order]],
) -> Order:
    """Runs `change` once per key: in the transaction that claims the key, storing its answer."""
    async with make_uow() as uow:
        if await uow.orders.claim_key(scope, key, method=method, digest=digest):
            changed = await change(uow)
            await uow.orders.save_response(scope, key, answer_of(changed))
            return changed
        earlier = await replayed(uow, scope, key, method=method, digest=digest)
        assert earlier is not None
        return earlier


# --- placing orders


async def place_mall_order(
    make_uow: MakeUnitOfWork,
    catalog: StockAndPrices,
    membership: MemberCheck,
    command: PlaceMallOrder,
    *,
    digest: bytes,
    policy: OrderPolicy,
    now: datetime,
) -> Order:
    method = "PlaceMallOrder"
    async with make_uow() as uow:
        earlier = await replayed(uow, command.user_id, command.idempotency_key, method=method, digest=digest)
    if earlier is not None:
        return earlier  # a retry: no second pricing, no second reservation
    prices = await catalog.mall_prices([sku_id for sku_id, _ in command.items])
    has_plus_price = any(price.plus_price_minor for price in prices.values())
    member = await membership.is_member(command.user_id) if has_plus_price else False
    items = price_mall_items(command.items, prices, plus_member=member)
    order = Order(
        order_id=order_id_for(BusinessLine.MALL, command.user_id, command.idempotency_key),
        user_id=command.user_id,
        kind=OrderKind.MALL,
        state=OrderState.PENDING_PAYMENT,
        items=tuple(items),
        total_minor=payable_total(items),
        currency=CURRENCY,
        channel=command.channel,
        shipping_city=command.shipping_city,
        pay_by=now + policy.payment_limit,
        created_at=now,
        updated_at=now,
    )
    # Reserved before the order exists: an order is never placed without its stock. Should this process
    # die before the order commits, a retry names the same order id and finds the same reservation;
    # without a retry, catalog's hold runs out.
    await catalog.reserve(
        BusinessLine.MALL, order.order_id, command.items, hold=policy.payment_limit + policy.hold_margin
    )
    return await keyed(
        make_uow,
        scope=command.user_id,
        key=command.idempotency_key,
        method=method,
        digest=digest,
        change=lambda uow: _add_order(uow, order),
    )


async def place_group_order(
    make_uow: MakeUnitOfWork,
    catalog: StockAndPrices,
    command: PlaceGroupOrder,
    *,
    digest: bytes,
    policy: OrderPolicy,
    now: datetime,
) -> Order:
    method = "PlaceGroupOrder"
    async with make_uow() as uow:
        earlier = await replayed(uow, command.user_id, command.idempotency_key, method=method, digest=digest)
    if earlier is not None:
        return earlier
    order = _group_order(
        command, order_id=order_id_for(BusinessLine.PINGOU, command.user_id, command.idempotency_key), at=now
    )
    # The stock stays reserved until the group ends (committed when it completes, released when it fails).
    hold = min(max(command.group_expires_at, command.pay_by) - now + policy.group_hold_margin, policy.max_hold)
    await catalog.reserve(BusinessLine.PINGOU, order.order_id, [(command.sku_id, 1)], hold=hold)
    return await keyed(
        make_uow,
        scope=command.user_id,
        key=command.idempotency_key,
        method=method,
        digest=digest,
        change=lambda uow: _add_order(uow, order),
    )


async def place_seat_order(
    uow: UnitOfWork, command: PlaceGroupOrder, *, order_id: str, held_at: datetime, policy: OrderPolicy, now: datetime
) -> Order | None:
    """A seat's order, placed from groupbuy's SeatHeld (the command's key is the seat id). The join took
    the seat's unit of stock from groupbuy's allotment and gave the buyer this order id, so nothing is
    reserved here. None when the order exists already (a redelivered or repeated event, or the order
    placed through PlaceGroupOrder for the same seat): it stays as it is and nothing is published again."""
    if order_id != order_id_for(BusinessLine.PINGOU, command.user_id, command.idempotency_key):
        # Another id would let PlaceGroupOrder, retried for the same seat, place the seat a second order.
        raise InvalidArgument(f"SeatHeld names order {order_id!r}, not the id of seat {command.idempotency_key!r}")
    if command.unit_price_minor < 0 or (command.unit_price_minor == 0 and not command.group_leader):
        raise InvalidArgument(f"SeatHeld prices seat {command.seat_id!r} at {command.unit_price_minor}")
    order = _group_order(command, order_id=order_id, at=held_at)
    if not await uow.orders.add_order(order):
        return None
    _publish_placed(uow, order)
    if await uow.orders.group_has_failed(command.group_id):
        # Cannot come in order (the seat's event precedes its group's outcome on one partition); a replayed
        # event can. The group is over: the order is cancelled (or a free one refunded) at once.
        log.warning("seat_order_placed_for_a_failed_group", order_id=order_id, group_id=command.group_id)
        changed = await fail_group(uow, command.group_id, policy=policy, now=now)
        order = next((moved for moved in changed if moved.order_id == order_id), order)
    return order


def _group_order(command: PlaceGroupOrder, *, order_id: str, at: datetime) -> Order:
    free = command.unit_price_minor == 0  # 团长免单 (leaders only): the seat counts as paid at once
    return Order(
        order_id=order_id,
        user_id=command.user_id,
        kind=OrderKind.GROUP,
        state=OrderState.AWAITING_GROUP if free else OrderState.PENDING_PAYMENT,
        items=(OrderItem(command.sku_id, 1, command.unit_price_minor, command.unit_price_minor),),
        total_minor=command.unit_price_minor,
        currency=CURRENCY,
        channel=command.channel,
        shipping_city=command.shipping_city,
        pay_by=command.pay_by,
        created_at=at,
        updated_at=at,
        group_id=command.group_id,
        seat_id=command.seat_id,
        group_leader=command.group_leader,
        group_expires_at=command.group_expires_at,
        paid_at=at if free else None,
    )


async def _add_order(uow: UnitOfWork, order: Order) -> Order:
    if not await uow.orders.add_order(order):
        # Its id names an order placed already: a seat's order placed from SeatHeld, or a placement retried
        # after its key was forgotten. That order stands.
        existing = await uow.orders.order(order.order_id)
        assert existing is not None
        return existing
    _publish_placed(uow, order)
    return order


def _publish_placed(uow: UnitOfWork, order: Order) -> None:
    placed = replace(order, state=OrderState.PENDING_PAYMENT, paid_at=None)
    uow.publish(ORDER_AGGREGATE, order.order_id, events.OrderPlaced(order=order_to_proto(placed)))
    if order.state is OrderState.AWAITING_GROUP:  # a free order: paid on the spot
        publish_paid(uow, order)


# --- changes of one order


async def mark_shipped(uow: UnitOfWork, order_id: str, *, tracking_number: str, now: datetime) -> Order:
    order = await locked_order(uow, order_id)
    if order.state is not SHIPPABLE[order.kind]:
        check_transition(order.state, OrderState.SHIPPED, order_id=order_id)
        raise_state(order, "the group has not completed yet")
    order = await move(uow, order, OrderState.SHIPPED, tracking_number=tracking_number)
    uow.publish(
        ORDER_AGGREGATE,
        order_id,
        events.OrderShipped(order_id=order_id, tracking_number=tracking_number, shipped_at=timestamp(now)),
    )
    return order


async def confirm_delivery(uow: UnitOfWork, order_id: str, *, now: datetime) -> Order:
    order = await move(uow, await locked_order(uow, order_id), OrderState.DELIVERED)
    uow.publish(ORDER_AGGREGATE, order_id, events.OrderDelivered(order_id=order_id, delivered_at=timestamp(now)))
    return order


async def request_after_sale_refund(uow: UnitOfWork, order_id: str, *, policy: OrderPolicy, now: datetime) -> Order:
    order = await locked_order(uow, order_id)
    if order.state not in AFTER_SALE_STATES:
        check_transition(order.state, OrderState.REFUNDING, order_id=order_id)
        raise_state(order, "a group order is refunded by its group's outcome while it waits for the group")
    if order.payment_reference is None:
        raise_state(order, "nothing was paid for this order", reason="NOTHING_TO_REFUND")
    return await start_refund(uow, order, RefundReason.AFTER_SALE, policy=policy, now=now)


async def start_refund(
    uow: UnitOfWork, order: Order, reason: RefundReason, *, policy: OrderPolicy, now: datetime
) -> Order:
    """Moves a paid order to REFUNDING and asks for its money back; an order that cost nothing is refunded
    at once."""
    refund_id = new_refund_id(uow.line) if order.payment_reference else ""
    order = await move(uow, order, OrderState.REFUNDING)
    uow.publish(
        ORDER_AGGREGATE,
        order.order_id,
        events.OrderRefunding(order_id=order.order_id, refund_id=refund_id, reason=REFUND_REASON_TO_PROTO[reason]),
    )
    if order.payment_reference is None:  # a free order (团长免单): no money moved
        order = await move(uow, order, OrderState.REFUNDED)
        uow.publish(
            ORDER_AGGREGATE,
            order.order_id,
            events.OrderRefunded(order_id=order.order_id, user_id=order.user_id, refunded_at=timestamp(now)),
        )
        return order
    refund = await request_refund_of(
        uow,
        order,
        reason=reason,
        payment_reference=order.payment_reference,
        amount_minor=order.total_minor,
        policy=policy,
        now=now,
        refund_id=refund_id,
    )
    return replace(order, refunds=(*order.refunds, *([refund] if refund else [])))


# --- reactions to the group's outcome (groupbuy's events)


async def complete_group(
    uow: UnitOfWork, group_id: str, member_order_ids: Sequence[str], *, policy: OrderPolicy, now: datetime
) -> list[Order]:
    """The group completed with the paid orders groupbuy names (all waiting ones if it names none): they
    move on to GROUP_COMPLETED and catalog commits their stock. Any other order of the group lost its
    seat before its payment was known (a hold freed at its limit while the confirmation was in flight):
    it is refunded, or cancelled if unpaid, so a completed group never has more orders than seats."""
    members = set(member_order_ids)
    changed = []
    for order in await uow.orders.group_orders(
        group_id, states=[OrderState.PENDING_PAYMENT, OrderState.AWAITING_GROUP]
    ):
        if order.state is OrderState.AWAITING_GROUP and (not members or order.order_id in members):
            order = await move(uow, order, OrderState.GROUP_COMPLETED)
            uow.publish(
                ORDER_AGGREGATE, order.order_id, events.OrderGroupCompleted(order_id=order.order_id, group_id=group_id)
            )
        elif order.state is OrderState.AWAITING_GROUP:
            log.warning("paid_order_left_out_of_completed_group", order_id=order.order_id, group_id=group_id)
            order = await start_refund(uow, order, RefundReason.SEAT_RELEASED, policy=policy, now=now)
        elif members:
            order = await move(uow, order, OrderState.CANCELLED, cancel_reason=CancelReason.SEAT_RELEASED)
            publish_cancelled(uow, order, now=now)
        else:
            continue
        changed.append(order)
    return changed


async def fail_group(uow: UnitOfWork, group_id: str, *, policy: OrderPolicy, now: datetime) -> list[Order]:
    """The group failed: paid orders are refunded, unpaid ones cancelled (catalog releases their stock).
    Replayed, it finds nothing left in those states: no second refund, no second event. The failure is
    remembered, for a seat's order that would be placed after it (see place_seat_order)."""
    await uow.orders.record_group_failed(group_id, at=now)
    changed = []
    states = [OrderState.PENDING_PAYMENT, OrderState.AWAITING_GROUP]
    for order in await uow.orders.group_orders(group_id, states=states):
        if order.state is OrderState.PENDING_PAYMENT:
            order = await move(uow, order, OrderState.CANCELLED, cancel_reason=CancelReason.GROUP_FAILED)
            publish_cancelled(uow, order, now=now)
        else:
            order = await start_refund(uow, order, RefundReason.GROUP_FAILED, policy=policy, now=now)
        changed.append(order)
    return changed


async def refund_lost_stock(uow: UnitOfWork, order_id: str, *, policy: OrderPolicy, now: datetime) -> Order | None:
    """Catalog could not commit a paid order's stock (StockCommitFailed): the goods will not ship, so the
    money goes back. An order already refunding or refunded is left as it is."""
    order = await uow.orders.order(order_id, for_update=True)
    if order is None or order.state not in (OrderState.PAID, OrderState.GROUP_COMPLETED):
        return None
    log.error("paid_order_lost_its_stock", order_id=order_id)
    return await start_refund(uow, order, RefundReason.STOCK_UNAVAILABLE, policy=policy, now=now)


# --- the payment-timeout job

PAYMENT_TIMEOUT = Job("order", "payment_timeout")
OLD_KEYS = Job("order", "forget_old_keys")
OLD_FAILED_GROUPS = Job("order", "forget_old_failed_groups")


async def cancel_unpaid_due(uow: UnitOfWork, *, now: datetime, limit: int) -> Settled[Order]:
    """Cancels orders that can no longer be paid in time: their pay_by passed, and so did the grace within
    which a payment made by then may still be confirmed (libs.core.orders' rule, which ConfirmPayment
    follows too), so no payment made in time is refused for a cancellation. Catalog releases their stock
    when it reads the event; groupbuy frees the seat."""
    due = await uow.orders.claim_unpaid_due(
        pay_by_before=pay_by_closed_before(now), job=PAYMENT_TIMEOUT.name, limit=limit
    )

    async def cancel_all(order_ids: Sequence[str]) -> list[Order]:
        cancelled = await uow.orders.cancel_unpaid(order_ids, reason=CancelReason.PAYMENT_TIMEOUT)
        for order in cancelled:
            publish_cancelled(uow, order, now=now)
        return cancelled

    return await settle_together(uow, PAYMENT_TIMEOUT, due, cancel_all)


# --- housekeeping


async def forget_old_keys(uow: UnitOfWork, *, older_than: datetime, limit: int) -> Settled[tuple[str, str]]:
    """Idempotency keys are kept for a retention period (a retry comes within minutes, not weeks); a
    placement retried after that still cannot place a second order, since its order id is the same."""
    old = await uow.orders.claim_old_keys(created_before=older_than, job=OLD_KEYS.name, limit=limit)
    return await settle_together(uow, OLD_KEYS, old, uow.orders.forget_keys, key=lambda pair: "/".join(pair))


async def forget_old_failed_groups(uow: UnitOfWork, *, older_than: datetime, limit: int) -> Settled[str]:
    old = await uow.orders.claim_old_failed_groups(failed_before=older_than, job=OLD_FAILED_GROUPS.name, limit=limit)
    return await settle_together(uow, OLD_FAILED_GROUPS, old, uow.orders.forget_failed_groups)
