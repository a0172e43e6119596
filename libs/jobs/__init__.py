"""Durable background jobs: the loop that runs one job's batches beside a service, and the rows it sets aside.

What a job works on lives in Postgres, and each batch claims its rows with FOR UPDATE SKIP LOCKED in the
transaction that handles them, so any number of replicas share the work, a crash loses nothing (the
unfinished batch rolls back and is claimed again), and no timer lives only in a process's memory.

One bad row never stops a job: a row whose work fails for a reason of its own is set aside with its error
(`job_set_aside`, skipped by the job's claim; see rows.py) and the rest of the batch goes on; only an
infrastructure error (the database or a called service away or busy) rolls the batch back, and the loop
tries again after a pause that grows while the error lasts. Operators list set-aside rows and put them
back in line with `python -m libs.jobs set-aside`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from libs.jobs.errors import describe, is_infrastructure
from libs.jobs.rows import Job, JobTransaction, Settled, settle_each, settle_together
from libs.jobs.set_aside import SetAsideRow, SetAsideRows, not_set_aside
from libs.logs import get_logger
from libs.metrics import JOB_BATCHES_FAILED

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)

__all__ = [
    "MIGRATIONS",
    "Job",
    "JobTransaction",
    "SetAsideRow",
    "SetAsideRows",
    "Settled",
    "is_infrastructure",
    "not_set_aside",
    "run_batches",
    "settle_each",
    "settle_together",
]


async def run_batches(
    batch: Callable[[], Awaitable[int]],
    *,
    job: Job,
    batch_size: int,
    poll_seconds: float,
    max_pause: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Runs `batch` (one transaction; returns how many rows it claimed) until cancelled: batch after batch
    while work is waiting, then one poll's pause. A batch that fails is rolled back (by its transaction)
    and tried again after a pause, doubling from one poll up to `max_pause` while the failures go on."""
    failures = 0
    while True:
        try:
            claimed = await batch()
        except Exception as error:
            failures += 1
            JOB_BATCHES_FAILED.labels(service=job.service, job=job.name).inc()
            pause = min(max_pause, max(poll_seconds, 0.1) * 2 ** min(failures - 1, 16))
            if is_infrastructure(error):
                log.warning("job_batch_retried", job=str(job), error=describe(error), pause_seconds=pause)
            else:  # outside any row's work (the claim itself): a bug, or the rows' schema is not as expected
                log.exception("job_batch_failed", job=str(job), pause_seconds=pause)
            await sleep(pause)
            continue
        failures = 0
        if claimed < batch_size:
            await sleep(poll_seconds)
