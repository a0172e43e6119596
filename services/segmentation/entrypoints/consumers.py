"""Profiles built from other services' events. Each handler runs inside the idempotent consumer's
transaction, so a redelivered event is skipped before it gets here. Every update is order-independent
(counts, sums, least/greatest of times), so a replayed or reordered stream gives the same profile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.order.v1 import events_pb2 as order_events

from libs.core import BusinessLine, user_line
from libs.events import ConsumedEvent
from libs.events.consumer import Handler
from services.segmentation.adapters.repository import SegmentationRepository


class UnknownUser(Exception):
    """An event names a user this line's registry does not hold: retried, then dead-lettered."""


# (the event's user, the profile update: repository and event -> whether the user was found)
Effect = tuple[Callable[[Any], str], Callable[[SegmentationRepository, Any], Awaitable[bool]]]


def _at(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


EFFECTS: Mapping[type[Message], Effect] = {
    order_events.OrderPaid: (
        lambda e: e.user_id,
        lambda users, e: users.record_order_paid(e.user_id, amount_minor=e.amount_minor, paid_at=_at(e.paid_at)),
    ),
    order_events.OrderRefunded: (
        lambda e: e.user_id,
        lambda users, e: users.record_refund(e.user_id, amount_minor=e.amount_minor),
    ),
    groupbuy_events.GroupOpened: (
        lambda e: e.leader_user_id,
        lambda users, e: users.record_activity(e.leader_user_id, at=_at(e.opened_at)),
    ),
    groupbuy_events.SeatHeld: (
        lambda e: e.user_id,
        lambda users, e: users.record_activity(e.user_id, at=_at(e.held_at)),
    ),
    membership_events.MembershipPurchased: (
        lambda e: e.user_id,
        lambda users, e: users.record_plus_until(e.user_id, until=_at(e.expires_at)),
    ),
    membership_events.MembershipRenewed: (
        lambda e: e.user_id,
        lambda users, e: users.record_plus_until(e.user_id, until=_at(e.expires_at)),
    ),
    membership_events.MembershipExpired: (
        lambda e: e.user_id,
        lambda users, e: users.record_plus_expired(e.user_id, at=_at(e.expired_at)),
    ),
}


def profile_handlers(line: BusinessLine) -> Mapping[type[Message], Handler]:
    """The event handlers of one line's profile consumer."""

    def handler(effect: Effect) -> Handler:
        user_of, apply = effect

        async def handle(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
            user_id = user_of(event.payload)
            if user_line(user_id) is not line:
                raise UnknownUser(f"{user_id} is not a {line} user")
            if not await apply(SegmentationRepository(connection, line), event.payload):
                raise UnknownUser(f"no {line} user {user_id}")

        return handle

    return {event_type: handler(effect) for event_type, effect in EFFECTS.items()}
