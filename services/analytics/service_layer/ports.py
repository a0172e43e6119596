"""What the use cases need from storage and from other systems, as protocols the adapters implement (and
unit tests fake)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.analytics.domain.facts import (
    GroupOpened,
    GroupOutcome,
    MembershipSale,
    Payment,
    PlacedOrder,
    Refund,
    SeatTaken,
)
from services.analytics.domain.model import Kpis, PartitionLag, Window


class Facts(Protocol):
    """The writes of a batch of events, in the consumer's transaction, each kind of fact at once. A fact
    already there is left as it is."""

    async def add_placed_orders(self, orders: Sequence[PlacedOrder]) -> None: ...

    async def add_payments(self, payments: Sequence[Payment]) -> None:
        """Also each payer's first payment, when one of these is earlier than any before, and then a lookup
        of their identity links."""

    async def add_refunds(self, refunds: Sequence[Refund]) -> None: ...

    async def add_groups_opened(self, groups: Sequence[GroupOpened]) -> None: ...

    async def add_group_outcomes(self, outcomes: Sequence[GroupOutcome]) -> None: ...

    async def add_invites(self, seats: Sequence[SeatTaken]) -> None: ...

    async def add_membership_sales(self, sales: Sequence[MembershipSale]) -> None: ...

    async def want_link_lookups(self, user_ids: Sequence[str]) -> None: ...


class KpiSource(Protocol):
    async def kpis(self, window: Window) -> tuple[dict[datetime, Kpis], Kpis]:
        """Per bucket start (only buckets with facts) and for the whole window, from one snapshot."""

    async def applied(self) -> tuple[int, datetime | None]:
        """Events the line's consumer has applied since it started, and when it last applied one."""


class ConsumerPositions(Protocol):
    async def lags(self, topics: Sequence[str]) -> list[PartitionLag]:
        """Per partition of the topics: records the consumer group has not committed yet."""


class LinkedAccounts(Protocol):
    async def linked_accounts(self, user_id: str) -> list[str] | None:
        """The person's other accounts on either line, as segmentation knows them now; None when
        segmentation has no such account."""


class LinkLookups(Protocol):
    """The users whose identity links are to be looked up, in the job's transaction."""

    async def claim(self, *, job: str, limit: int) -> list[str]: ...

    async def add_links(self, user_id: str, linked: Sequence[str]) -> None:
        """Records that `user_id` and each of `linked` are one person's accounts (both ways)."""

    async def done(self, user_id: str) -> None: ...
