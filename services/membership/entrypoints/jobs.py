"""The expiry job: a worker beside the gRPC server that expires ended memberships and announces each.

Durable and replica-safe: what is due lives in Postgres (state 'active', expires_at passed), each batch
is claimed with FOR UPDATE SKIP LOCKED and expired in the transaction that appends its events, so any
number of replicas share the work and each membership expires, and is announced, exactly once. A crash
loses nothing: an unfinished batch rolls back and is claimed again. A membership that cannot be expired
for a reason of its own is set aside with its error (libs.jobs), and the others are expired.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from libs.jobs import Settled, run_batches
from libs.logs import get_logger
from services.membership.domain.model import Membership
from services.membership.service_layer import memberships
from services.membership.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


class ExpiryJob:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        *,
        poll_seconds: float,
        batch_size: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._uow = uow
        self._poll = poll_seconds
        self._batch = batch_size
        self._now = clock

    async def run(self) -> None:
        """Expire until cancelled: batch after batch while work is waiting, then one poll's pause."""

        async def batch() -> int:
            return (await self.run_once()).claimed

        await run_batches(batch, job=memberships.EXPIRY, batch_size=self._batch, poll_seconds=self._poll)

    async def run_once(self) -> Settled[Membership]:
        """One batch: the memberships it expired, and those it set aside."""
        uow = self._uow()
        settled = await memberships.expire_due(uow, now=self._now(), limit=self._batch)
        if settled.done:
            log.info("memberships_expired", line=uow.line.value, count=len(settled.done))
        return settled
