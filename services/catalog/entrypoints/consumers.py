"""Orders' events, consumed from `<line>.order.v1`: a reservation is committed when its order is paid (a
group order: when its group completes) and released when the order is cancelled or refunded before
that. Consuming them, rather than being called, makes each step durable: the event is in the order's
outbox the moment the order changes, and the inbox makes a redelivery harmless.

A group order placed through a join has no reservation here: its unit came from the stock groupbuy
leased. Orders whose stock was reserved (ReserveStock) are settled as before."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from google.protobuf.message import Message
from pingou.order.v1 import events_pb2 as order_events
from pingou.order.v1 import order_pb2

from libs.core import BusinessLine
from libs.core.orders import ORDER_PREFIX
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from services.catalog.domain.model import ReservationState
from services.catalog.service_layer import inventory
from services.catalog.service_layer.unit_of_work import UnitOfWork


def is_group_order(order_id: str) -> bool:
    """Order ids say their line, and every pingou order is a group order: what tells a group order apart
    in the events that do not carry the order's kind."""
    return order_id.startswith(ORDER_PREFIX[BusinessLine.PINGOU])


def order_handlers(line: BusinessLine, *, topic_prefix: str) -> Mapping[type[Message], Handler]:
    async def settle(connection: asyncpg.Connection, order_id: str, to: ReservationState, *, group: bool) -> None:
        async with UnitOfWork.joining(connection, line, topic_prefix=topic_prefix) as uow:
            await inventory.settle_for_order(uow, order_id, to=to, may_lack_reservation=group)

    async def paid(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, order_events.OrderPaid)
        if payload.kind != order_pb2.ORDER_KIND_GROUP:  # a group order's stock waits for its group
            await settle(connection, payload.order_id, ReservationState.COMMITTED, group=False)

    async def group_completed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, order_events.OrderGroupCompleted)
        await settle(connection, payload.order_id, ReservationState.COMMITTED, group=True)  # only group orders

    async def given_up(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, order_events.OrderCancelled | order_events.OrderRefunding)
        order_id = payload.order_id
        await settle(connection, order_id, ReservationState.RELEASED, group=is_group_order(order_id))

    return {
        order_events.OrderPaid: paid,
        order_events.OrderGroupCompleted: group_completed,
        order_events.OrderCancelled: given_up,
        order_events.OrderRefunding: given_up,
    }
