"""What analytics keeps of each event: one fact, written once (keyed by what the event is about, so a
redelivered event finds its fact there already). No infrastructure here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.analytics.domain.model import Channel


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order_id: str
    user_id: str
    placed_at: datetime
    items: int
    total_minor: int
    channel: Channel
    city_tier: int  # of the shipping city (libs.core.cities; 6 when the table does not know it)


@dataclass(frozen=True, slots=True)
class Payment:
    """An order paid. A user's first payment anywhere decides whether they are new to the company."""

    order_id: str
    user_id: str
    paid_at: datetime
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Refund:
    order_id: str
    user_id: str
    refunded_at: datetime
    amount_minor: int


@dataclass(frozen=True, slots=True)
class GroupOpened:
    group_id: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    group_id: str
    completed: bool  # or failed
    decided_at: datetime
    opened_at: datetime | None  # completed groups: for the time to complete
    reannounced: bool  # a repeat for a late payment: the outcome is counted once, from its first event


@dataclass(frozen=True, slots=True)
class SeatTaken:
    seat_id: str
    group_id: str
    user_id: str
    inviter_user_id: str | None  # through an invite (old brings new): the seat counts as an invite
    held_at: datetime


@dataclass(frozen=True, slots=True)
class MembershipSale:
    payment_reference: str  # membership sells idempotently by it
    user_id: str
    plan: str
    renewal: bool
    sold_at: datetime
    amount_minor: int


@dataclass(frozen=True, slots=True)
class LinksChanged:
    """The user's identity links changed (segmentation linked another identity): look them up again."""

    user_id: str


Fact = PlacedOrder | Payment | Refund | GroupOpened | GroupOutcome | SeatTaken | MembershipSale | LinksChanged


def users_of(fact: Fact) -> list[str]:
    """The accounts a fact names, each of which must belong to the line whose event it came from."""
    if isinstance(fact, GroupOpened | GroupOutcome):
        return []
    if isinstance(fact, SeatTaken):
        return [fact.user_id] + ([fact.inviter_user_id] if fact.inviter_user_id else [])
    return [fact.user_id]
