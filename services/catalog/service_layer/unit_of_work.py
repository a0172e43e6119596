"""The catalog's unit of work: the shared one, with the catalog repository on its connection."""

from __future__ import annotations

import asyncpg

from libs.events.unit_of_work import UnitOfWork as BaseUnitOfWork
from services.catalog.adapters.repository import CatalogRepository

LISTING_AGGREGATE = "listing"
INVENTORY_AGGREGATE = "inventory"


class UnitOfWork(BaseUnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        self.catalog = CatalogRepository(connection, self.line)
