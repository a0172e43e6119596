"""What the use cases need from other services, as protocols the adapters implement (and tests fake)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.groupbuy.domain.model import GroupTerms


class StockLeases(Protocol):
    async def lease(self, *, sku_id: str, quantity: int, lease_id: str) -> int:
        """Catalog's grant for this lease: up to `quantity` units (0 when none is left); the same answer
        for a retry with the same lease id. Unavailable when catalog cannot be reached."""


class Listings(Protocol):
    async def group_terms(self, sku_id: str) -> GroupTerms:
        """The terms a group of the SKU opens with now; NotFound (NOT_LISTED) without an active listing."""


class Eligibility(Protocol):
    async def is_registered(self, user_id: str) -> bool:
        """Whether segmentation's registry knows the account (only known buyers hold seats)."""

    async def is_new_to_company(self, user_id: str) -> bool: ...

    async def is_member(self, user_id: str) -> bool: ...

    async def linked_accounts(self, user_id: str) -> Sequence[str]:
        """The person's other accounts, on either line, as segmentation knows them now (not cached)."""


class LinkedAccounts(Protocol):
    async def linked_accounts(self, user_id: str) -> Sequence[str]: ...
