"""Order's unit of work: the shared one, with the line's order repository on its connection."""

from __future__ import annotations

import asyncpg

from libs.events.unit_of_work import UnitOfWork as BaseUnitOfWork
from services.order.adapters.repository import OrderRepository

ORDER_AGGREGATE = "order"  # events on `<line>.order.v1`, keyed by the order id (refund events too)


class UnitOfWork(BaseUnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        self.orders = OrderRepository(connection)
