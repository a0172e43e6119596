"""The time limits and retry rules every use case of the order service follows, set once from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    payment_limit: timedelta = timedelta(minutes=15)
    # Catalog's hold outlives the payment limit by this much, so a payment accepted at the last second
    # still finds its stock reserved when catalog commits it.
    hold_margin: timedelta = timedelta(minutes=5)
    # A group order's stock stays reserved until its group ends, plus this much.
    group_hold_margin: timedelta = timedelta(hours=12)
    max_hold: timedelta = timedelta(days=8)  # catalog's longest hold
    refund_retry_base: timedelta = timedelta(seconds=30)
    refund_max_attempts: int = 8
    key_retention: timedelta = timedelta(days=7)  # how long a retry gets the first call's answer
