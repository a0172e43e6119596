"""Analytics' unit of work (for its job): the shared one, with the link lookups on its connection."""

from __future__ import annotations

import asyncpg

from libs.events.unit_of_work import UnitOfWork as BaseUnitOfWork
from services.analytics.adapters.repository import LinkLookupsRepository


class UnitOfWork(BaseUnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        self.lookups = LinkLookupsRepository(connection)
