"""Catalog's word that a paid order's stock is gone (StockCommitFailed on `<line>.inventory.v1`): the
order is refunded. Runs inside the idempotent consumer's transaction, like every event handler here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message
from pingou.catalog.v1 import catalog_pb2 as catalog_events

from libs.core import BusinessLine
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from services.order.service_layer import orders
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork


def stock_handlers(line: BusinessLine, *, topic_prefix: str, policy: OrderPolicy) -> Mapping[type[Message], Handler]:
    async def commit_failed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, catalog_events.StockCommitFailed)
        async with UnitOfWork.joining(connection, line, topic_prefix=topic_prefix) as uow:
            await orders.refund_lost_stock(uow, payload.order_id, policy=policy, now=datetime.now(UTC))

    return {catalog_events.StockCommitFailed: commit_failed}
