"""Groupbuy's allotment of stock: leased from catalog in blocks, so that a join takes its unit in the
statement that holds its seat, and catalog is asked once per block instead of once per join.

A join that finds the SKU's allotment empty leases a block and tries again; joins of that SKU that find it
empty meanwhile wait for that one lease rather than each asking catalog. A join that leaves its bucket low
starts the next lease in the background, so most joins never wait. Each lease is written down before
catalog is asked (its id is catalog's idempotency key) and credited once with the grant: a lease a crash
or a lost answer left uncredited is asked again, under the same id, by the lease job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg

from libs.core import Aborted, FailedPrecondition
from libs.jobs import Job, Settled, settle_each
from libs.logs import get_logger
from services.groupbuy.adapters.repository import GroupRepository
from services.groupbuy.domain.model import AllotmentEmpty, new_id
from services.groupbuy.service_layer.ports import StockLeases
from services.groupbuy.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)

T = TypeVar("T")
TAKE_TRIES = 4  # a join whose unit another join took first (a lease just landed, and ran out) tries again
# The database gave up on a statement to break a lock cycle, or to keep transactions serializable: the
# statement changed nothing, and running it again is safe.
RETRIED_CONFLICTS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class Allotment:
    def __init__(self, pool: asyncpg.Pool, leases: StockLeases, *, block: int, clock: Callable[[], datetime]) -> None:
        self._repository = GroupRepository(pool)
        self._leases = leases
        self.block = block
        # A bucket holds about block / 8 after a lease; the next lease starts when one is down to this.
        self.refill_at = max(1, block // 40)
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._leases_done: dict[str, int] = {}
        self._background: set[asyncio.Task[bool]] = set()

    async def take(self, sku_id: str, hold: Callable[[], Awaitable[tuple[T, int]]]) -> T:
        """Runs `hold` (a seat statement that takes a unit of the SKU) until it finds a unit, leasing more
        whenever the allotment is empty. OUT_OF_STOCK once catalog has none left to lease."""
        for _ in range(TAKE_TRIES):
            seen = self._leases_done.get(sku_id, 0)
            try:
                taken, remaining = await _again_on_conflict(hold)
            except AllotmentEmpty:
                if not await self._refill(sku_id, seen):
                    raise FailedPrecondition(
                        f"{sku_id} is out of stock", reason="OUT_OF_STOCK", metadata={"sku_id": sku_id}
                    ) from None
                continue
            if remaining <= self.refill_at:
                self._refill_soon(sku_id)
            return taken
        raise Aborted(f"the stock of {sku_id} is taken as fast as it is leased; retry", reason="STOCK_CONTENDED")

    async def _refill(self, sku_id: str, seen: int) -> bool:
        """Leases a block unless another lease of the SKU landed since the caller looked (`seen`); False
        when catalog had nothing left to grant."""
        lock = self._locks.setdefault(sku_id, asyncio.Lock())
        async with lock:
            if self._leases_done.get(sku_id, 0) != seen:
                return True
            granted = await self.lease(sku_id)
            self._leases_done[sku_id] = seen + 1
            return granted > 0

    def _refill_soon(self, sku_id: str) -> None:
        lock = self._locks.setdefault(sku_id, asyncio.Lock())
        if lock.locked():
            return  # a lease of this SKU is on its way already
        task = asyncio.create_task(self._refill(sku_id, self._leases_done.get(sku_id, 0)))
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[bool]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background_lease_failed", error=str(task.exception()))

    async def lease(self, sku_id: str) -> int:
        """One lease of a block: written down, asked of catalog, credited. Returns the grant."""
        lease_id = new_id()
        await self._repository.ask_lease(lease_id=lease_id, sku_id=sku_id, quantity=self.block, at=self._clock())
        return await self.ask_and_credit(self._repository, lease_id=lease_id, sku_id=sku_id, quantity=self.block)

    async def ask_and_credit(self, repository: GroupRepository, *, lease_id: str, sku_id: str, quantity: int) -> int:
        try:
            granted = await self._leases.lease(sku_id=sku_id, quantity=quantity, lease_id=lease_id)
        except FailedPrecondition:
            # Not listed (any more): nothing will ever be granted under this lease.
            await repository.credit_lease(lease_id, granted=0, at=self._clock())
            raise
        await _again_on_conflict(lambda: repository.credit_lease(lease_id, granted=granted, at=self._clock()))
        log.info("stock_leased", sku_id=sku_id, asked=quantity, granted=granted)
        return granted


async def _again_on_conflict(statement: Callable[[], Awaitable[T]], *, tries: int = 5) -> T:
    """Runs a single-statement transaction, again when the database broke a lock conflict by failing it."""
    for attempt in range(tries):
        try:
            return await statement()
        except RETRIED_CONFLICTS:
            if attempt == tries - 1:
                raise
            log.info("statement_conflict_retried", attempt=attempt + 1)
            await asyncio.sleep(0.001 * (attempt + 1))
    raise AssertionError("unreachable")


LEASE_CREDIT = Job("groupbuy", "lease_credit")


async def credit_forgotten_leases(
    uow: UnitOfWork, allotment: Allotment, *, now: datetime, older_than: timedelta, limit: int
) -> Settled[int]:
    """The lease job: leases asked long ago and never credited (catalog's answer was lost, or this process
    died before crediting it) are asked again under their own id, which catalog answers with the first
    grant, and credited, each on its own (one catalog refuses for a reason of its own is set aside). Runs
    in the caller's transaction, which holds the rows; catalog away rolls the batch back, to try later."""
    forgotten = await uow.groups.uncredited_leases(asked_before=now - older_than, job=LEASE_CREDIT.name, limit=limit)
    return await settle_each(
        uow,
        LEASE_CREDIT,
        forgotten,
        lambda lease: _credit_forgotten(uow, allotment, *lease),
        key=lambda lease: lease[0],
    )


async def _credit_forgotten(uow: UnitOfWork, allotment: Allotment, lease_id: str, sku_id: str, quantity: int) -> int:
    try:
        return await allotment.ask_and_credit(uow.groups, lease_id=lease_id, sku_id=sku_id, quantity=quantity)
    except FailedPrecondition as refusal:
        # Not listed (any more): credited with nothing, and so settled for good.
        log.warning("forgotten_lease_not_granted", lease_id=lease_id, sku_id=sku_id, reason=refusal.reason)
        return 0
