"""Waiting for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 30.0, pause: float = 0.05) -> T:
    """Poll `check` until it returns a truthy value; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(pause)


async def eventually_equal(fetch: Callable[[], Awaitable[T]], expected: T, *, timeout: float = 30.0) -> None:
    """Poll `fetch` until it returns `expected`; fail with the last value after `timeout` seconds."""
    last: list[T] = []

    async def check() -> bool:
        last[:] = [await fetch()]
        return last[0] == expected

    try:
        await eventually(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"expected {expected!r} within {timeout}s, last got {last[0]!r}") from None


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel a background worker and wait until it has cleaned up (left its consumer group, ...)."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
