"""Groupbuy's outcomes, consumed from `pingou.groupbuy.v1`. Each handler runs inside the idempotent
consumer's transaction (its inbox row commits with the effect), and each effect is also guarded by the
orders' states: a redelivered or duplicated event finds nothing left to change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events

from libs.core import BusinessLine
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from libs.logs import get_logger
from services.order.service_layer import orders
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


def group_handlers(*, topic_prefix: str, policy: OrderPolicy) -> Mapping[type[Message], Handler]:
    def uow(connection: asyncpg.Connection) -> UnitOfWork:
        return UnitOfWork.joining(connection, BusinessLine.PINGOU, topic_prefix=topic_prefix)

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

    return {groupbuy_events.GroupCompleted: group_completed, groupbuy_events.GroupFailed: group_failed}
