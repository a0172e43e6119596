"""Orders' events, consumed from `<line>.order.v1`: a reservation is committed when its order is paid (a
group order: when its group completes) and released when the order is cancelled or refunded before
that. Consuming them, rather than being called, makes each step durable: the event is in the order's
outbox the moment the order changes, and the inbox makes a redelivery harmless."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from google.protobuf.message import Message
from pingou.order.v1 import events_pb2 as order_events
from pingou.order.v1 import order_pb2

from libs.core import BusinessLine
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from services.catalog.domain.model import ReservationState
from services.catalog.service_layer import inventory
from services.catalog.service_layer.unit_of_work import UnitOfWork


def order_handlers(line: BusinessLine, *, topic_prefix: str) -> Mapping[type[Message], Handler]:
    async def settle(connection: asyncpg.Connection, order_id: str, to: ReservationState) -> None:
        async with UnitOfWork.joining(connection, line, topic_prefix=topic_prefix) as uow:
            await inventory.settle_for_order(uow, order_id, to=to)

    async def paid(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, order_events.OrderPaid)
        if payload.kind != order_pb2.ORDER_KIND_GROUP:  # a group order's stock waits for its group
            await settle(connection, payload.order_id, ReservationState.COMMITTED)

    async def group_completed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        await settle(connection, event.payload.order_id, ReservationState.COMMITTED)  # type: ignore[attr-defined]

    async def given_up(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        await settle(connection, event.payload.order_id, ReservationState.RELEASED)  # type: ignore[attr-defined]

    return {
        order_events.OrderPaid: paid,
        order_events.OrderGroupCompleted: group_completed,
        order_events.OrderCancelled: given_up,
        order_events.OrderRefunding: given_up,
    }
