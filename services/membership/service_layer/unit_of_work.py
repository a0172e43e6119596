"""Membership's unit of work: the shared one, with the line's membership repository on its connection."""

from __future__ import annotations

import asyncpg

from libs.events.unit_of_work import UnitOfWork as BaseUnitOfWork
from services.membership.adapters.repository import MembershipRepository

MEMBERSHIP_AGGREGATE = "membership"  # events on `<line>.membership.v1`, keyed by the user id


class UnitOfWork(BaseUnitOfWork):
    def on_begin(self, connection: asyncpg.Connection) -> None:
        self.memberships = MembershipRepository(connection)
