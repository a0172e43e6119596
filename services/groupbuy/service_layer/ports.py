"""What the use cases need from other services, as protocols the adapters implement (and tests fake)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pingou.order.v1 import order_pb2

from services.groupbuy.domain.model import GroupTerms


@dataclass(frozen=True, slots=True)
class GroupOrder:
    """The order of one seat. The seat id is the idempotency key: placing it again returns the same order."""

    seat_id: str
    user_id: str
    sku_id: str
    group_id: str
    leader: bool
    unit_price_minor: int
    shipping_city: str
    channel: int
    pay_by: datetime
    group_expires_at: datetime


class Orders(Protocol):
    async def place_group_order(self, order: GroupOrder) -> order_pb2.Order:
        """Raises a DomainError carrying the order service's status and reason when it refuses, and
        Unavailable when it cannot tell whether the order was placed."""

    async def get_order(self, order_id: str) -> order_pb2.Order: ...


class Listings(Protocol):
    async def group_terms(self, sku_id: str) -> GroupTerms:
        """The terms a group of the SKU opens with now; NotFound (NOT_LISTED) without an active listing."""


class Eligibility(Protocol):
    async def is_new_to_company(self, user_id: str) -> bool: ...

    async def is_member(self, user_id: str) -> bool: ...


class LinkedAccounts(Protocol):
    async def linked_accounts(self, user_id: str) -> Sequence[str]: ...
