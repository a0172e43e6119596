"""The durable jobs beside the gRPC server: the window's end, the hold backstop, the identity check, and
leases of stock whose grant was never credited.

What is due lives in Postgres; each batch is claimed with FOR UPDATE SKIP LOCKED and settled in the
transaction that appends its events, so any number of replicas share the work, each group fails exactly
once, and a crash (or a restart) loses nothing: an unfinished batch rolls back and is claimed again.
Nothing is timed in memory: a job that was down finds everything that fell due meanwhile. A group, seat
or lease whose work fails for a reason of its own is set aside with its error (libs.jobs) and the rest
of the batch goes on; a dependency that does not answer rolls the batch back, to be tried again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from libs.jobs import Job, run_batches
from libs.logs import get_logger
from services.groupbuy.service_layer import lifecycle
from services.groupbuy.service_layer.ports import LinkedAccounts
from services.groupbuy.service_layer.stock import LEASE_CREDIT, Allotment, credit_forgotten_leases
from services.groupbuy.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


class _Job:
    job: Job

    def __init__(self, *, poll_seconds: float, batch_size: int):
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size

    async def run(self) -> None:
        await run_batches(self.run_once, job=self.job, batch_size=self.batch_size, poll_seconds=self.poll_seconds)

    async def run_once(self) -> int:
        """One batch, in one transaction; how many rows it claimed (settled or set aside)."""
        raise NotImplementedError


class WindowJob(_Job):
    """Fails the open groups whose window ended and that no held seat keeps open: none may still be paid in
    time, and none waits for its known order's payment or cancellation (GroupFailed: the order service
    refunds and cancels); after `fallback`, whatever known orders they wait for."""

    job = lifecycle.WINDOW

    def __init__(self, uow: Callable[[], UnitOfWork], *, poll_seconds: float, grace: timedelta = timedelta(0),
                 fallback: timedelta = timedelta(minutes=30), batch_size: int = 200,
                 clock: lifecycle.Clock = lambda: datetime.now(UTC)):  # fmt: skip
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._uow, self._grace, self._fallback, self._now = uow, grace, fallback, clock

    async def run_once(self) -> int:
        settled = await lifecycle.fail_due_groups(
            self._uow(), now=self._now(), grace=self._grace, fallback=self._fallback, limit=self.batch_size
        )
        if settled.done:
            log.info("groups_failed", count=len(settled.done))
        return settled.claimed


class HoldBackstopJob(_Job):
    """Releases holds still unpaid `grace` after their payment limit whose order never became known."""

    job = lifecycle.HOLD_BACKSTOP

    def __init__(self, uow: Callable[[], UnitOfWork], *, grace: timedelta, poll_seconds: float,
                 batch_size: int = 200, clock: lifecycle.Clock = lambda: datetime.now(UTC)):  # fmt: skip
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._uow, self._grace, self._now = uow, grace, clock

    async def run_once(self) -> int:
        now = self._now()
        settled = await lifecycle.release_stale_holds(
            self._uow(), before=now - self._grace, now=now, limit=self.batch_size
        )
        if settled.done:
            log.warning("stale_holds_released", count=len(settled.done))
        return settled.claimed


class IdentityJob(_Job):
    """Flags completed groups whose members are all one person (GroupFlagged)."""

    job = lifecycle.IDENTITY_CHECK

    def __init__(self, uow: Callable[[], UnitOfWork], links: LinkedAccounts, *, poll_seconds: float,
                 batch_size: int = 20, clock: lifecycle.Clock = lambda: datetime.now(UTC)):  # fmt: skip
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._uow, self._links, self._now = uow, links, clock

    async def run_once(self) -> int:
        settled = await lifecycle.check_identities(self._uow(), self._links, now=self._now(), limit=self.batch_size)
        flagged = [group_id for group_id, same_person in settled.done if same_person]
        if flagged:
            log.warning("groups_flagged_one_person", groups=flagged)
        return settled.claimed


class LeaseJob(_Job):
    """Asks catalog again, under the same lease id, for leases whose grant was never credited (the answer
    was lost, or the process died between asking and crediting), and credits them."""

    job = LEASE_CREDIT

    def __init__(self, uow: Callable[[], UnitOfWork], allotment: Allotment, *, poll_seconds: float,
                 older_than: timedelta = timedelta(seconds=30), batch_size: int = 20,
                 clock: lifecycle.Clock = lambda: datetime.now(UTC)):  # fmt: skip
        super().__init__(poll_seconds=poll_seconds, batch_size=batch_size)
        self._uow, self._allotment, self._older_than, self._now = uow, allotment, older_than, clock

    async def run_once(self) -> int:
        async with self._uow() as uow:
            settled = await credit_forgotten_leases(
                uow, self._allotment, now=self._now(), older_than=self._older_than, limit=self.batch_size
            )
        if settled.done:
            log.warning("forgotten_leases_credited", count=len(settled.done))
        return settled.claimed
