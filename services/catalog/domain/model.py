"""The catalog domain: products, listings with their prices and group rules, stock, reservations and
leases. No infrastructure here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from libs.core import BusinessLine, FieldViolation, InvalidArgument
from libs.core.orders import MAX_PAYMENT_MINOR

MAX_TITLE_LENGTH = 120
MAX_DESCRIPTION_LENGTH = 2000
MAX_IMAGES = 10
MAX_ATTRIBUTES = 20
MAX_SKUS_PER_PRODUCT = 50
MIN_GROUP_SIZE, MAX_GROUP_SIZE = 2, 50
MIN_WINDOW_MINUTES, MAX_WINDOW_MINUTES, DEFAULT_WINDOW_MINUTES = 10, 7 * 24 * 60, 24 * 60
# Groups of one SKU a buyer may be in at once (0: no limit); groupbuy keeps the bound in an integer column.
MAX_PER_USER_LIMIT = 100
STOCK_BUCKETS = 8  # a hot SKU's stock is split so that concurrent reservations rarely meet on one row
MAX_LEASE_QUANTITY = 100_000  # one lease or return


class LeaseKind(StrEnum):
    LEASE = "lease"
    RETURN = "return"


class ReservationState(StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class GroupRule:
    size: int
    window_minutes: int = DEFAULT_WINDOW_MINUTES
    per_user_limit: int = 0
    new_user_only: bool = False
    plus_only: bool = False
    strangers_can_join: bool = True
    auto_match: bool = True
    leader_free: bool = False


@dataclass(frozen=True, slots=True)
class Prices:
    """Mall: price and an optional PLUS price. Pingou: price is the solo price, plus the group price,
    an optional leader price and the group rule."""

    price_minor: int
    plus_price_minor: int | None = None
    group_price_minor: int | None = None
    leader_price_minor: int | None = None
    group_rule: GroupRule | None = None

    def violations(self, line: BusinessLine) -> list[FieldViolation]:
        found: list[FieldViolation] = []
        if line is BusinessLine.MALL:
            if self.group_price_minor is not None or self.group_rule is not None:
                found.append(FieldViolation("pingou", "group prices and rules are for pingou listings"))
            if not 0 < self.price_minor <= MAX_PAYMENT_MINOR:
                found.append(FieldViolation("mall.price_minor", f"must be positive and at most {MAX_PAYMENT_MINOR}"))
            if self.plus_price_minor is not None and not 0 < self.plus_price_minor < self.price_minor:
                found.append(FieldViolation("mall.plus_price_minor", "must be positive and below the price"))
            return found
        if self.plus_price_minor is not None:
            found.append(FieldViolation("mall", "PLUS prices are for mall listings"))
        # Every other price is below this one: a price one payment cannot cover could never be sold.
        if not 0 < self.price_minor <= MAX_PAYMENT_MINOR:
            found.append(FieldViolation("pingou.solo_price_minor", f"must be positive and at most {MAX_PAYMENT_MINOR}"))
        if self.group_price_minor is None or not 0 < self.group_price_minor < self.price_minor:
            found.append(FieldViolation("pingou.group_price_minor", "must be positive and below the solo price"))
        elif self.leader_price_minor is not None and not 0 < self.leader_price_minor <= self.group_price_minor:
            found.append(FieldViolation("pingou.leader_price_minor", "must be positive and at most the group price"))
        rule = self.group_rule
        if rule is None:
            found.append(FieldViolation("pingou.rule", "is required"))
        else:
            if not MIN_GROUP_SIZE <= rule.size <= MAX_GROUP_SIZE:
                found.append(FieldViolation("pingou.rule.size", f"must be {MIN_GROUP_SIZE} to {MAX_GROUP_SIZE}"))
            if not MIN_WINDOW_MINUTES <= rule.window_minutes <= MAX_WINDOW_MINUTES:
                found.append(
                    FieldViolation(
                        "pingou.rule.window_minutes", f"must be {MIN_WINDOW_MINUTES} to {MAX_WINDOW_MINUTES}"
                    )
                )
            if not 0 <= rule.per_user_limit <= MAX_PER_USER_LIMIT:
                limit = f"must be 0 (no limit) to {MAX_PER_USER_LIMIT}"
                found.append(FieldViolation("pingou.rule.per_user_limit", limit))
            if rule.leader_free and self.leader_price_minor is not None:
                found.append(FieldViolation("pingou.leader_price_minor", "cannot be set when the leader is free"))
        return found


def check_prices(line: BusinessLine, prices: Prices) -> None:
    found = prices.violations(line)
    if found:
        summary = "; ".join(f"{v.field} {v.description}" for v in found)
        raise InvalidArgument(f"invalid listing: {summary}", reason="INVALID_LISTING", violations=found)


@dataclass(frozen=True, slots=True)
class Listing:
    sku_id: str
    line: BusinessLine
    product_id: str
    title: str
    category_id: str
    belt_id: str | None
    factory_direct: bool
    image_url: str
    prices: Prices
    active: bool
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Sku:
    sku_id: str
    product_id: str
    title: str
    attributes: dict[str, str] = field(default_factory=dict)
    image_url: str = ""


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    merchant_id: str
    category_id: str
    belt_id: str | None
    factory_direct: bool
    title: str
    description: str
    image_urls: tuple[str, ...]
    attributes: dict[str, str]
    skus: tuple[Sku, ...]


@dataclass(frozen=True, slots=True)
class ReservationItem:
    sku_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    order_id: str
    line: BusinessLine
    items: tuple[ReservationItem, ...]
    state: ReservationState
    expires_at: datetime


def normalized_items(items: list[ReservationItem]) -> tuple[ReservationItem, ...]:
    """Sorted by SKU: reservations lock SKUs in one order, so two orders cannot deadlock on them."""
    return tuple(sorted(items, key=lambda item: item.sku_id))


@dataclass(frozen=True, slots=True)
class StockLevel:
    """A SKU's stock on a line: free to reserve, held by reservations, and leased to groupbuy."""

    available: int
    reserved: int
    leased: int


@dataclass(frozen=True, slots=True)
class StockLease:
    """The answer to a lease (quantity granted, up to what was asked) or a return (quantity given back),
    with what is leased of the SKU right after it. A retry of the same lease id gets this same answer."""

    lease_id: str
    kind: LeaseKind
    sku_id: str
    line: BusinessLine
    quantity: int
    leased: int
