"""Durable background jobs: the loop that runs one job's batches beside a service.

What a job works on lives in Postgres, and each batch claims its rows with FOR UPDATE SKIP LOCKED in the
transaction that handles them, so any number of replicas share the work, a crash loses nothing (the
unfinished batch rolls back and is claimed again), and no timer lives only in a process's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def run_batches(batch: Callable[[], Awaitable[int]], *, batch_size: int, poll_seconds: float) -> None:
    """Runs `batch` (one transaction; returns how many rows it handled) until cancelled: batch after
    batch while work is waiting, then one poll's pause."""
    while True:
        if await batch() < batch_size:
            await asyncio.sleep(poll_seconds)
