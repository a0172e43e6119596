"""The segmentation domain: channels, identities, segment rules. No infrastructure here."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from libs.core import BusinessLine, FieldViolation, InvalidArgument

MAX_CITY_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 200
SEGMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
LOWEST_TIER, HIGHEST_TIER = 1, 6
MAX_DORMANT_DAYS = 3650
# The most orders a rule may count: far above any buyer's, and within the order_count column (integer).
MAX_ORDER_COUNT = 1_000_000


class Channel(StrEnum):
    PINGOU_APP = "pingou_app"
    WECHAT_MINI_PROGRAM = "wechat_mini_program"
    MALL_APP = "mall_app"
    H5 = "h5"


class IdentityKind(StrEnum):
    WECHAT_UNIONID = "wechat_unionid"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Profile:
    first_order_at: datetime | None
    order_count: int
    spend_minor: int
    plus_until: datetime | None
    last_active_at: datetime | None

    def plus_member(self, now: datetime) -> bool:
        return self.plus_until is not None and self.plus_until > now


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    line: BusinessLine
    city: str
    city_tier: int
    city_known: bool
    channel: Channel
    registered_at: datetime
    profile: Profile


@dataclass(frozen=True, slots=True)
class SegmentRule:
    """Conditions over a profile, all of which must hold. None (or empty) means "any"."""

    min_tier: int | None = None
    max_tier: int | None = None
    channels: tuple[Channel, ...] = ()
    new_to_company: bool | None = None
    dormant_days: int | None = None
    plus_member: bool | None = None
    min_orders: int | None = None
    max_orders: int | None = None

    def violations(self) -> list[FieldViolation]:
        found = []
        for name in ("min_tier", "max_tier"):
            tier = getattr(self, name)
            if tier is not None and not LOWEST_TIER <= tier <= HIGHEST_TIER:
                found.append(FieldViolation(f"rule.{name}", f"must be between {LOWEST_TIER} and {HIGHEST_TIER}"))
        if self.min_tier is not None and self.max_tier is not None and self.min_tier > self.max_tier:
            found.append(FieldViolation("rule.max_tier", "must not be below min_tier"))
        if self.dormant_days is not None and not 1 <= self.dormant_days <= MAX_DORMANT_DAYS:
            found.append(FieldViolation("rule.dormant_days", f"must be between 1 and {MAX_DORMANT_DAYS}"))
        for name in ("min_orders", "max_orders"):
            orders = getattr(self, name)
            if orders is not None and not 0 <= orders <= MAX_ORDER_COUNT:
                found.append(FieldViolation(f"rule.{name}", f"must be between 0 and {MAX_ORDER_COUNT}"))
        if self.min_orders is not None and self.max_orders is not None and self.min_orders > self.max_orders:
            found.append(FieldViolation("rule.max_orders", "must not be below min_orders"))
        return found

    def to_json(self) -> dict[str, Any]:
        """Only the conditions that are set, so stored rules stay readable and comparable."""
        stored = {name: value for name, value in asdict(self).items() if value not in (None, ())}
        if self.channels:
            stored["channels"] = [channel.value for channel in self.channels]
        return stored

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> SegmentRule:
        values = dict(stored)
        values["channels"] = tuple(Channel(channel) for channel in values.get("channels", ()))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: str
    version: int
    line: BusinessLine
    description: str
    rule: SegmentRule
    created_at: datetime | None = field(default=None)


def check_segment_definition(segment_id: str, description: str, rule: SegmentRule) -> None:
    found = []
    if not SEGMENT_ID.match(segment_id):
        found.append(FieldViolation("segment_id", "must be 3 to 64 lower-case letters, digits or dashes"))
    if len(description) > MAX_DESCRIPTION_LENGTH:
        found.append(FieldViolation("description", f"is longer than {MAX_DESCRIPTION_LENGTH} characters"))
    found.extend(rule.violations())
    if found:
        summary = "; ".join(f"{v.field} {v.description}" for v in found)
        raise InvalidArgument(f"invalid segment: {summary}", reason="INVALID_SEGMENT", violations=found)
