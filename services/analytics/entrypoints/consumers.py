"""The events analytics reads, each turned into its fact; a polled batch's facts are recorded together in
the idempotent consumer's transaction (the facts, the events' count and their inbox rows commit together).
An event that cannot make a fact (no order id, a user of the other line) fails its batch, which is then
applied one event at a time: the consumer dead-letters that event and goes on.

Times are the event's own (when the order was placed, paid, the group opened ...), the envelope's
`occurred_at` where the payload has none (membership sales)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.order.v1 import events_pb2 as order_events
from pingou.segmentation.v1 import segmentation_pb2 as segmentation_events

from libs.core import BusinessLine, InvalidArgument
from libs.core.cities import CityTiers
from libs.events import ConsumedEvent
from libs.events.consumer import ApplyTogether, Handler
from libs.metrics import EVENT_LAG
from services.analytics.adapters.repository import FactsRepository
from services.analytics.domain.facts import (
    Fact,
    GroupOpened,
    GroupOutcome,
    LinksChanged,
    MembershipSale,
    Payment,
    PlacedOrder,
    Refund,
    SeatTaken,
)
from services.analytics.domain.model import Channel
from services.analytics.entrypoints.mapping import CHANNEL_FROM_PROTO
from services.analytics.service_layer import facts

ToFact = Callable[[Any, ConsumedEvent], Fact]


def _occurred(event: ConsumedEvent) -> datetime:
    return event.envelope.occurred_at.ToDatetime(tzinfo=UTC)


def _at(stamp: Timestamp, event: ConsumedEvent) -> datetime:
    """The payload's moment, or the envelope's when the payload left it unset."""
    return stamp.ToDatetime(tzinfo=UTC) if stamp.seconds or stamp.nanos else _occurred(event)


def _required(event: ConsumedEvent, **values: str) -> None:
    missing = sorted(name for name, value in values.items() if not value)
    if missing:
        raise InvalidArgument(f"{event.envelope.event_type} {event.envelope.event_id} has no {', '.join(missing)}")


def _placed_order(cities: CityTiers) -> ToFact:
    def fact(placed: order_events.OrderPlaced, event: ConsumedEvent) -> Fact:
        order = placed.order
        _required(event, order_id=order.order_id, user_id=order.user_id)
        return PlacedOrder(
            order_id=order.order_id,
            user_id=order.user_id,
            placed_at=_at(order.created_at, event),
            items=sum(item.quantity for item in order.items),
            total_minor=order.total_minor,
            channel=CHANNEL_FROM_PROTO.get(order.channel, Channel.UNSPECIFIED),
            city_tier=cities.tier_of(order.shipping_city).tier,
        )

    return fact


def _payment(paid: order_events.OrderPaid, event: ConsumedEvent) -> Fact:
    _required(event, order_id=paid.order_id, user_id=paid.user_id)
    return Payment(paid.order_id, paid.user_id, _at(paid.paid_at, event), paid.amount_minor)


def _refund(refunded: order_events.OrderRefunded, event: ConsumedEvent) -> Fact:
    _required(event, order_id=refunded.order_id, user_id=refunded.user_id)
    return Refund(refunded.order_id, refunded.user_id, _at(refunded.refunded_at, event), refunded.amount_minor)


def _group_opened(opened: groupbuy_events.GroupOpened, event: ConsumedEvent) -> Fact:
    _required(event, group_id=opened.group_id)
    return GroupOpened(opened.group_id, _at(opened.opened_at, event))


def _group_completed(completed: groupbuy_events.GroupCompleted, event: ConsumedEvent) -> Fact:
    _required(event, group_id=completed.group_id)
    opened_at = completed.opened_at.ToDatetime(tzinfo=UTC) if completed.HasField("opened_at") else None
    return GroupOutcome(completed.group_id, True, _at(completed.completed_at, event), opened_at, completed.reannounced)


def _group_failed(failed: groupbuy_events.GroupFailed, event: ConsumedEvent) -> Fact:
    _required(event, group_id=failed.group_id)
    return GroupOutcome(failed.group_id, False, _at(failed.failed_at, event), None, failed.reannounced)


def _seat_held(held: groupbuy_events.SeatHeld, event: ConsumedEvent) -> Fact:
    _required(event, seat_id=held.seat_id, group_id=held.group_id, user_id=held.user_id)
    return SeatTaken(held.seat_id, held.group_id, held.user_id, held.inviter_user_id or None, _at(held.held_at, event))


def _membership_sale(renewal: bool) -> ToFact:
    def fact(sold: membership_events.MembershipPurchased | membership_events.MembershipRenewed,
             event: ConsumedEvent) -> Fact:  # fmt: skip
        _required(event, user_id=sold.user_id)
        plan = membership_events.Plan.Name(sold.plan).removeprefix("PLAN_").lower()
        # Sold idempotently by its payment reference; an event without one is its own sale.
        reference = sold.payment_reference or f"event:{event.envelope.event_id}"
        return MembershipSale(reference, sold.user_id, plan, renewal, _occurred(event), sold.amount_minor)

    return fact


def _links_changed(linked: segmentation_events.IdentityLinked, event: ConsumedEvent) -> Fact:
    _required(event, user_id=linked.user_id)
    return LinksChanged(linked.user_id)


def fact_handlers(
    line: BusinessLine, *, cities: CityTiers, group: str
) -> tuple[Mapping[type[Message], Handler], ApplyTogether]:
    """One line's consumer: the event types it reads, each applied alone (when a batch is retried one event
    at a time), and the batch applied together (its facts written kind by kind)."""
    to_facts: dict[type[Message], ToFact] = {
        order_events.OrderPlaced: _placed_order(cities),
        order_events.OrderPaid: _payment,
        order_events.OrderRefunded: _refund,
        membership_events.MembershipPurchased: _membership_sale(renewal=False),
        membership_events.MembershipRenewed: _membership_sale(renewal=True),
        segmentation_events.IdentityLinked: _links_changed,
    }
    if line is BusinessLine.PINGOU:
        to_facts |= {
            groupbuy_events.GroupOpened: _group_opened,
            groupbuy_events.SeatHeld: _seat_held,
            groupbuy_events.GroupCompleted: _group_completed,
            groupbuy_events.GroupFailed: _group_failed,
        }

    async def apply_together(connection: asyncpg.Connection, events: Sequence[ConsumedEvent]) -> None:
        batch = [to_facts[type(event.payload)](event.payload, event) for event in events]
        # A polled batch is one partition's: its consumer is the one writer of that partition's counters.
        repository = FactsRepository(connection, line=line, partition=events[0].partition)
        await facts.record(repository, batch, line=line)
        await repository.count_applied(Counter((event.topic, event.partition) for event in events))
        now = datetime.now(UTC)
        for event in events:
            EVENT_LAG.labels(group, event.topic).observe((now - _occurred(event)).total_seconds())

    async def apply_alone(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
        await apply_together(connection, [event])

    return dict.fromkeys(to_facts, apply_alone), apply_together
