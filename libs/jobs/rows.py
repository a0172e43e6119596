"""Settling a batch's claimed rows so that one bad row cannot fail the others.

Each row (or the whole batch, in one go, when the job has a statement for many rows) is worked in a
savepoint of the batch's transaction. A row that fails for a reason of its own has its savepoint rolled
back (its changes and the events it queued undone), is recorded in `job_set_aside` with its error, in
the same transaction, and the batch goes on; its job's claim skips it until an operator puts it back. An
infrastructure error is raised: the whole batch rolls back and is tried again later (run_batches).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import asyncpg

from libs.core import DomainError
from libs.jobs.errors import describe, is_infrastructure
from libs.jobs.set_aside import SetAsideRows
from libs.logs import get_logger
from libs.metrics import JOB_ROWS_SET_ASIDE

log = get_logger(__name__)

K = TypeVar("K")
R = TypeVar("R")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Job:
    """A durable job: its set-aside rows are recorded under `name` in its service's schema; its metrics
    and log lines name both."""

    service: str
    name: str

    def __post_init__(self) -> None:
        for part in (self.service, self.name):
            if not _NAME.match(part):
                raise ValueError(f"not a job name: {part!r}")

    def __str__(self) -> str:
        return f"{self.service}.{self.name}"


class JobTransaction(Protocol):
    """The batch's transaction: a libs.events UnitOfWork (its savepoints drop the events queued inside)."""

    connection: asyncpg.Connection

    def savepoint(self) -> AbstractAsyncContextManager[None]: ...


@dataclass(frozen=True, slots=True)
class Settled(Generic[R]):
    """What a batch came to: the settled rows' results, and the keys of the rows set aside."""

    claimed: int
    done: list[R] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)


async def settle_each(
    tx: JobTransaction,
    job: Job,
    rows: Sequence[K],
    settle: Callable[[K], Awaitable[R]],
    *,
    key: Callable[[K], str] = str,
) -> Settled[R]:
    """Settles the rows one by one, each in its own savepoint; `key` names a row as its claim skips it."""
    done: list[R] = []
    aside: list[str] = []
    for row in rows:
        try:
            async with tx.savepoint():
                done.append(await settle(row))
        except Exception as error:
            if is_infrastructure(error):
                raise
            aside.append(await _set_aside(tx, job, key(row), error))
    return Settled(len(rows), done, aside)


async def settle_together(
    tx: JobTransaction,
    job: Job,
    rows: Sequence[K],
    settle: Callable[[Sequence[K]], Awaitable[Sequence[R]]],
    *,
    key: Callable[[K], str] = str,
) -> Settled[R]:
    """Settles the rows in one go (the job's statements for many rows); when that fails for a row's own
    reason, each row alone, so that only the one to blame is set aside."""
    if not rows:
        return Settled(0)
    try:
        async with tx.savepoint():
            return Settled(len(rows), list(await settle(rows)))
    except Exception as error:
        if is_infrastructure(error):
            raise
        if len(rows) == 1:
            return Settled(1, [], [await _set_aside(tx, job, key(rows[0]), error)])
        log.info("job_batch_settled_row_by_row", job=str(job), rows=len(rows), error=describe(error))
    each = await settle_each(tx, job, rows, lambda row: settle([row]), key=key)
    return Settled(len(rows), [result for part in each.done for result in part], each.set_aside)


async def _set_aside(tx: JobTransaction, job: Job, row_key: str, error: Exception) -> str:
    attempts = await SetAsideRows(tx.connection).record(job.name, row_key, describe(error))
    JOB_ROWS_SET_ASIDE.labels(service=job.service, job=job.name).inc()
    # A domain refusal says all there is to say; anything else may be a bug: its traceback goes along.
    log.warning("job_row_set_aside", job=str(job), row=row_key, attempts=attempts, error=describe(error),
                exc_info=None if isinstance(error, DomainError) else error)  # fmt: skip
    return row_key
