"""Which pingou accounts exist, as segmentation announces them: a join reads its buyer's registration from
groupbuy's own table (see adapters/registry.py) and asks segmentation only about an account not there yet."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

import asyncpg
from google.protobuf.message import Message
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from services.groupbuy.adapters.registry import RegisteredAccounts

USER_AGGREGATE = "user"  # segmentation announces accounts on <line>.user.v1


def registry_handlers() -> Mapping[type[Message], Handler]:
    """UserRegistered, applied in the consumer's transaction; the topic's other events are not needed."""

    async def registered(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        user: seg_pb.UserRegistered = event.payload  # type: ignore[assignment]  # registered for UserRegistered
        await RegisteredAccounts(connection).record([(user.user_id, user.registered_at.ToDatetime(tzinfo=UTC))])

    return {seg_pb.UserRegistered: registered}
