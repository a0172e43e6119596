"""Groups, seats and the terms a group keeps for its life. No infrastructure here."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from libs.core import BusinessLine, FailedPrecondition
from libs.core.orders import order_id_for

# Invite codes: 10 characters of an alphabet without look-alikes (0/O, 1/I/L), about 48 bits.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_CODE_LENGTH = 10
ALLOTMENT_BUCKETS = 8  # rows per SKU in the allotment (migrations/line/groupbuy_0002)


class GroupState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    FAILED = "failed"


class SeatState(StrEnum):
    HELD = "held"
    PAID = "paid"
    RELEASED = "released"


class ReleaseReason(StrEnum):
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REFUSED = "order_refused"
    HOLD_EXPIRED = "hold_expired"
    GROUP_CLOSED = "group_closed"  # the group failed while the seat was held


class FailureReason(StrEnum):
    WINDOW_ENDED = "window_ended"
    LEADER_ORDER_REFUSED = "leader_order_refused"


@dataclass(frozen=True, slots=True)
class GroupTerms:
    """What a group is opened with, from the SKU's pingou listing at that moment."""

    sku_id: str
    size: int
    window: timedelta
    group_price_minor: int
    leader_price_minor: int  # 0: the leader rides free (团长免单)
    per_user_limit: int  # open groups of this SKU a user may be in at once; 0 = unlimited
    new_user_only: bool
    plus_only: bool
    strangers_can_join: bool
    auto_match: bool


@dataclass(frozen=True, slots=True)
class Buyer:
    user_id: str
    shipping_city: str
    channel: int  # pingou.order.v1.Channel, passed through to the order
    request_key: str


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    sku_id: str
    leader_user_id: str
    state: GroupState
    size: int
    seats_taken: int
    seats_paid: int
    group_price_minor: int
    leader_price_minor: int
    per_user_limit: int
    new_user_only: bool
    plus_only: bool
    strangers_can_join: bool
    auto_match: bool
    share_code: str
    opened_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    flagged: bool
    failure_reason: FailureReason | None = None

    def why_no_seat(self, now: datetime) -> FailedPrecondition:
        """The reason a seat could not be taken in this group (read after the conditional update refused)."""
        if self.state is GroupState.COMPLETED:
            return FailedPrecondition(f"group {self.group_id} is already complete", reason="GROUP_COMPLETED")
        if self.state is GroupState.FAILED:
            return FailedPrecondition(f"group {self.group_id} has failed", reason="GROUP_FAILED")
        if self.expires_at <= now:
            return FailedPrecondition(f"the window of group {self.group_id} has ended", reason="GROUP_EXPIRED")
        return FailedPrecondition(
            f"group {self.group_id} has no free seat ({self.seats_taken} of {self.size} taken)", reason="GROUP_FULL"
        )


@dataclass(frozen=True, slots=True)
class Seat:
    seat_id: str
    group_id: str
    user_id: str
    leader: bool
    state: SeatState
    invite_code: str
    inviter_user_id: str | None
    unit_price_minor: int
    shipping_city: str
    channel: int
    order_id: str | None
    held_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    release_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SeatRequest:
    """A seat to hold: everything is decided before the statement runs, so it can run as one, including
    the id of the seat's order (placed by the order service from SeatHeld) and where in the SKU's
    allotment its unit of stock is looked for first."""

    seat_id: str
    group_id: str
    buyer: Buyer
    leader: bool
    unit_price_minor: int
    invite_code: str
    inviter_user_id: str | None
    held_at: datetime
    pay_by: datetime
    order_id: str
    stock_start: int
    # The accounts a new-user-only seat claims: the buyer's and every one linked to it (empty otherwise).
    claims: tuple[str, ...] = ()


class AllotmentEmpty(Exception):
    """No unit of the SKU is left in groupbuy's allotment: lease more from catalog, then try again."""

    def __init__(self, sku_id: str):
        super().__init__(f"the allotment of {sku_id} is empty")
        self.sku_id = sku_id


def new_id() -> str:
    return str(uuid.uuid4())


def seat_order_id(user_id: str, seat_id: str) -> str:
    """The id of a seat's order: the order service's own naming, with the seat id as the key."""
    return order_id_for(BusinessLine.PINGOU, user_id, seat_id)


def new_stock_start() -> int:
    """Where a seat starts looking in the SKU's allotment buckets, so concurrent joins spread over them."""
    return secrets.randbelow(ALLOTMENT_BUCKETS)


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))


def pay_by(held_at: datetime, hold: timedelta, expires_at: datetime) -> datetime:
    """A hold lasts the payment limit, and never past the group's window."""
    return min(held_at + hold, expires_at)


def leader_price(group_price_minor: int, leader_price_minor: int | None, leader_free: bool) -> int:
    if leader_free:
        return 0
    return leader_price_minor or group_price_minor


def shanghai_day(moment: datetime) -> date:
    """The calendar day (Asia/Shanghai, UTC+8 with no daylight saving) a moment falls on, for the daily cap."""
    return (moment.astimezone(UTC) + timedelta(hours=8)).date()
