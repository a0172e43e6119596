"""The events groupbuy consumes, each applied in the idempotent consumer's transaction (with its inbox
row), so a redelivered event is skipped before it gets here.

- Order's, from `pingou.order.v1`: a paid order pays its seat (the last paid seat completes the group), a
  cancelled one releases it. A seat names its order when it is held, so OrderPlaced tells groupbuy nothing
  new.
- Segmentation's UserRegistered, from `pingou.user.v1`: which pingou accounts exist. A join reads its
  buyer's registration from groupbuy's own table (adapters/registry.py) and asks segmentation only about an
  account not there yet."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message
from pingou.order.v1 import events_pb2 as order_events
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from services.groupbuy.adapters.registry import RegisteredAccounts
from services.groupbuy.service_layer import announcements as announce
from services.groupbuy.service_layer.lifecycle import Clock, pay_seat, release_order_seat
from services.groupbuy.service_layer.unit_of_work import UnitOfWork

USER_AGGREGATE = "user"  # segmentation announces accounts on <line>.user.v1


def order_handlers(prefix: str, clock: Clock = lambda: datetime.now(UTC)) -> Mapping[type[Message], Handler]:
    """The order events groupbuy acts on, each applied in the consumer's transaction (with its inbox row)."""

    def uow(connection: asyncpg.Connection) -> UnitOfWork:
        return UnitOfWork.joining(connection, announce.LINE, topic_prefix=prefix)

    async def paid(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        payment: order_events.OrderPaid = event.payload  # type: ignore[assignment]  # registered for OrderPaid
        if payment.group_id:
            async with uow(connection) as work:
                await pay_seat(
                    work,
                    order_id=payment.order_id,
                    group_id=payment.group_id,
                    user_id=payment.user_id,
                    paid_at=payment.paid_at.ToDatetime(tzinfo=UTC),
                    now=clock(),
                )

    async def cancelled(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        cancel: order_events.OrderCancelled = event.payload  # type: ignore[assignment]  # registered for it
        if cancel.group_id:
            async with uow(connection) as work:
                await release_order_seat(
                    work, order_id=cancel.order_id, group_id=cancel.group_id, user_id=cancel.user_id, now=clock()
                )

    return {order_events.OrderPaid: paid, order_events.OrderCancelled: cancelled}


def registry_handlers() -> Mapping[type[Message], Handler]:
    """UserRegistered, applied in the consumer's transaction; the topic's other events are not needed."""

    async def registered(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        user: seg_pb.UserRegistered = event.payload  # type: ignore[assignment]  # registered for UserRegistered
        await RegisteredAccounts(connection).record([(user.user_id, user.registered_at.ToDatetime(tzinfo=UTC))])

    return {seg_pb.UserRegistered: registered}
