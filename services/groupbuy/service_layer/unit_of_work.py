"""Groupbuy's unit of work: the shared one, with the group repository on its connection."""

from __future__ import annotations

import asyncpg

from libs.events.unit_of_work import UnitOfWork as BaseUnitOfWork
from services.groupbuy.adapters.repository import GroupRepository

GROUP_AGGREGATE = "groupbuy"  # events on `pingou.groupbuy.v1`, keyed by group id


class UnitOfWork(BaseUnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        self.groups = GroupRepository(connection)
