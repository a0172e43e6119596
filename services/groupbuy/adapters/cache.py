"""A small time-bounded cache for answers of other services (listings, eligibility), per process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, *, seconds: float, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self._seconds = seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    async def get(
        self, key: K, load: Callable[[], Awaitable[V]], *, seconds_for: Callable[[V], float] | None = None
    ) -> V:
        """The cached value while fresh, else `load()` remembered for the cache's time (or `seconds_for`
        the value, when some answers stay true longer than others)."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await load()
        self._entries[key] = (now + (self._seconds if seconds_for is None else seconds_for(value)), value)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value
