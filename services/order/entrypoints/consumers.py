"""The events order consumes, each handled inside the idempotent consumer's transaction (its inbox row
commits with the effect), and each effect also guarded by the orders themselves (an order id placed once,
states): a redelivered or duplicated event changes nothing.

- Groupbuy's, from `pingou.groupbuy.v1`: a seat's SeatHeld places its order, and a group's GroupCompleted /
  GroupFailed settles the group's orders. All are keyed by group id, so a seat's SeatHeld is always
  handled before its group's outcome.
- Catalog's word that a paid order's stock is gone (StockCommitFailed on `<line>.inventory.v1`): the
  order is refunded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message
from pingou.catalog.v1 import catalog_pb2 as catalog_events
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events

from libs.core import BusinessLine, InvalidArgument
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from libs.logs import get_logger
from services.order.entrypoints.mapping import CHANNEL_FROM_PROTO
from services.order.service_layer import orders
from services.order.service_layer.orders import PlaceGroupOrder
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


def seat_order(held: groupbuy_events.SeatHeld) -> PlaceGroupOrder:
    """The seat's order as SeatHeld describes it, keyed by the seat id (as PlaceGroupOrder is when
    groupbuy calls it). Groupbuy checked the join; what is refused here would make a wrong order."""
    channel = CHANNEL_FROM_PROTO.get(held.channel)
    missing = [name for name in ("held_at", "pay_by") if not held.HasField(name)]
    if missing or channel is None or not (held.seat_id and held.group_id and held.sku_id and held.user_id):
        raise InvalidArgument(
            f"SeatHeld of seat {held.seat_id!r} cannot place an order (missing {missing}, channel {held.channel})"
        )
    pay_by = held.pay_by.ToDatetime(tzinfo=UTC)
    ends = held.group_expires_at.ToDatetime(tzinfo=UTC) if held.HasField("group_expires_at") else pay_by
    return PlaceGroupOrder(
        idempotency_key=held.seat_id,
        user_id=held.user_id,
        sku_id=held.sku_id,
        group_id=held.group_id,
        seat_id=held.seat_id,
        group_leader=held.leader,
        unit_price_minor=held.unit_price_minor,
        shipping_city=held.shipping_city.strip(),
        channel=channel,
        pay_by=pay_by,
        group_expires_at=max(ends, pay_by),
    )


def group_handlers(*, topic_prefix: str, policy: OrderPolicy) -> Mapping[type[Message], Handler]:
    def uow(connection: asyncpg.Connection) -> UnitOfWork:
        return UnitOfWork.joining(connection, BusinessLine.PINGOU, topic_prefix=topic_prefix)

    async def seat_held(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, groupbuy_events.SeatHeld)
        if not payload.order_id:
            # From a groupbuy that still places the seat's order itself (PlaceGroupOrder).
            log.warning("seat_held_without_order_ignored", group_id=payload.group_id, seat_id=payload.seat_id)
            return
        async with uow(connection) as work:
            placed = await orders.place_seat_order(
                work,
                seat_order(payload),
                order_id=payload.order_id,
                held_at=payload.held_at.ToDatetime(tzinfo=UTC),
                policy=policy,
                now=datetime.now(UTC),
            )
        if placed is None:
            log.info("seat_order_already_placed", order_id=payload.order_id, group_id=payload.group_id)

    async def group_completed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, groupbuy_events.GroupCompleted)
        async with uow(connection) as work:
            moved = await orders.complete_group(
                work, payload.group_id, payload.order_ids, policy=policy, now=datetime.now(UTC)
            )
        log.info("group_completed_orders_moved_on", group_id=payload.group_id, orders=len(moved))

    async def group_failed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        group_id = event.payload.group_id  # type: ignore[attr-defined]
        async with uow(connection) as work:
            changed = await orders.fail_group(work, group_id, policy=policy, now=datetime.now(UTC))
        log.info("group_failed_orders_refunded_or_cancelled", group_id=group_id, orders=len(changed))

    return {
        groupbuy_events.SeatHeld: seat_held,
        groupbuy_events.GroupCompleted: group_completed,
        groupbuy_events.GroupFailed: group_failed,
    }


def stock_handlers(line: BusinessLine, *, topic_prefix: str, policy: OrderPolicy) -> Mapping[type[Message], Handler]:
    async def commit_failed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, catalog_events.StockCommitFailed)
        async with UnitOfWork.joining(connection, line, topic_prefix=topic_prefix) as uow:
            await orders.refund_lost_stock(uow, payload.order_id, policy=policy, now=datetime.now(UTC))

    return {catalog_events.StockCommitFailed: commit_failed}
