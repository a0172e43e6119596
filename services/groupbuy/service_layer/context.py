"""What the use cases run with: the pool, the allotment, the other services' ports, the settings they need, and the
in-process cache of what never changes (a group's terms, whose an invite code is)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from libs.core import NotFound
from services.groupbuy.adapters.repository import GroupRepository
from services.groupbuy.domain.model import Group
from services.groupbuy.service_layer import announcements as announce
from services.groupbuy.service_layer.ports import Eligibility, Listings
from services.groupbuy.service_layer.stock import Allotment
from services.groupbuy.service_layer.unit_of_work import UnitOfWork

GROUP_CACHE_SIZE = 100_000


@dataclass
class Context:
    pool: asyncpg.Pool
    allotment: Allotment  # the stock joins take their units from
    listings: Listings
    eligibility: Eligibility
    topic_prefix: str
    hold: timedelta  # the payment time limit of a seat
    daily_open_cap: int
    clock: Callable[[], datetime]
    # A group's terms, window and share code never change, nor whose an invite code is: joins read them
    # from here, not the database.
    _groups: OrderedDict[str, Group] = field(default_factory=OrderedDict)
    _invites: OrderedDict[str, tuple[str, str]] = field(default_factory=OrderedDict)

    @property
    def repository(self) -> GroupRepository:
        """Over the pool: each statement is its own transaction (the hot path's single statements)."""
        return GroupRepository(self.pool)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.pool, announce.LINE, topic_prefix=self.topic_prefix)

    async def group_terms(self, group_id: str) -> Group:
        """The group as opened (its counts may be stale: use them for nothing but messages)."""
        cached = self._groups.get(group_id)
        if cached is None:
            cached = await self.repository.group(group_id)
            if cached is None:
                raise NotFound(f"no group {group_id}", reason="GROUP_NOT_FOUND")
            self.remember(cached)
        return cached

    async def invite(self, invite_code: str) -> tuple[str, str]:
        """(group id, inviter) of an invite code."""
        cached = self._invites.get(invite_code)
        if cached is None:
            owner = await self.repository.seat_by_invite(invite_code)
            if owner is None:
                raise NotFound("no group has this invite code", reason="INVITE_CODE_NOT_FOUND")
            cached = self._invites[invite_code] = (owner.group_id, owner.user_id)
            if len(self._invites) > GROUP_CACHE_SIZE:
                self._invites.popitem(last=False)
        return cached

    def remember(self, group: Group) -> None:
        self._groups[group.group_id] = group
        if len(self._groups) > GROUP_CACHE_SIZE:
            self._groups.popitem(last=False)
