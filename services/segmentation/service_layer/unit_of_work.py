"""Segmentation's unit of work: the shared one, with the line's repository on its connection."""

from __future__ import annotations

import asyncpg

from libs.events.unit_of_work import UnitOfWork as BaseUnitOfWork
from services.segmentation.adapters.repository import SegmentationRepository

USER_AGGREGATE = "user"


class UnitOfWork(BaseUnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        self.users = SegmentationRepository(connection, self.line)
