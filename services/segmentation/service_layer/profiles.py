"""Profiles built from other services' events. Each handler runs inside the idempotent consumer's
transaction, so a redelivered event is skipped before it gets here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from google.protobuf.message import Message
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.order.v1 import events_pb2 as order_events

from libs.core import BusinessLine, user_line
from libs.events import ConsumedEvent
from services.segmentation.adapters.repository import SegmentationRepository


class UnknownUser(Exception):
    """An event names a user this line's registry does not hold: retried, then dead-lettered."""


Handler = Callable[[asyncpg.Connection, ConsumedEvent], Awaitable[None]]


def profile_handlers(line: BusinessLine) -> Mapping[type[Message], Handler]:
    """The event handlers of one line's profile consumer."""

    def repository(connection: asyncpg.Connection, user_id: str) -> SegmentationRepository:
        if user_line(user_id) is not line:
            raise UnknownUser(f"{user_id} is not a {line} user")
        return SegmentationRepository(connection, line)

    def check(found: bool, user_id: str) -> None:
        if not found:
            raise UnknownUser(f"no {line} user {user_id}")

    async def order_paid(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        paid = event.payload
        assert isinstance(paid, order_events.OrderPaid)
        users = repository(connection, paid.user_id)
        check(
            await users.record_order_paid(
                paid.user_id, amount_minor=paid.amount_minor, paid_at=paid.paid_at.ToDatetime(tzinfo=_UTC)
            ),
            paid.user_id,
        )

    async def order_refunded(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        refund = event.payload
        assert isinstance(refund, order_events.OrderRefunded)
        users = repository(connection, refund.user_id)
        check(await users.record_refund(refund.user_id, amount_minor=refund.amount_minor), refund.user_id)

    async def group_opened(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        opened = event.payload
        assert isinstance(opened, groupbuy_events.GroupOpened)
        users = repository(connection, opened.leader_user_id)
        at = opened.opened_at.ToDatetime(tzinfo=_UTC)
        check(await users.record_activity(opened.leader_user_id, at=at), opened.leader_user_id)

    async def seat_held(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        held = event.payload
        assert isinstance(held, groupbuy_events.SeatHeld)
        users = repository(connection, held.user_id)
        check(await users.record_activity(held.user_id, at=held.held_at.ToDatetime(tzinfo=_UTC)), held.user_id)

    async def membership_purchased(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        bought = event.payload
        assert isinstance(bought, membership_events.MembershipPurchased)
        users = repository(connection, bought.user_id)
        until = bought.expires_at.ToDatetime(tzinfo=_UTC)
        check(await users.record_plus_until(bought.user_id, until=until), bought.user_id)

    async def membership_renewed(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        renewed = event.payload
        assert isinstance(renewed, membership_events.MembershipRenewed)
        users = repository(connection, renewed.user_id)
        until = renewed.expires_at.ToDatetime(tzinfo=_UTC)
        check(await users.record_plus_until(renewed.user_id, until=until), renewed.user_id)

    async def membership_expired(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        expired = event.payload
        assert isinstance(expired, membership_events.MembershipExpired)
        users = repository(connection, expired.user_id)
        at = expired.expired_at.ToDatetime(tzinfo=_UTC)
        check(await users.record_plus_expired(expired.user_id, at=at), expired.user_id)

    return {
        order_events.OrderPaid: order_paid,
        order_events.OrderRefunded: order_refunded,
        groupbuy_events.GroupOpened: group_opened,
        groupbuy_events.SeatHeld: seat_held,
        membership_events.MembershipPurchased: membership_purchased,
        membership_events.MembershipRenewed: membership_renewed,
        membership_events.MembershipExpired: membership_expired,
    }


from datetime import UTC as _UTC  # noqa: E402  -- kept beside its only use above
