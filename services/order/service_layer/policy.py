"""The time limits and retry rules every use case of the order service follows, set once from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from libs.core.orders import PAYMENT_CONFIRMATION_GRACE


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    payment_limit: timedelta = timedelta(minutes=15)
    # Catalog's hold outlives the payment limit by this much, so a payment accepted at the last moment (its
    # confirmation up to PAYMENT_CONFIRMATION_GRACE after the limit) still finds its stock reserved when
    # catalog reads its OrderPaid.
    hold_margin: timedelta = 2 * PAYMENT_CONFIRMATION_GRACE
    # A group order's stock stays reserved until its group ends, plus this much.
    group_hold_margin: timedelta = timedelta(hours=12)
    max_hold: timedelta = timedelta(days=8)  # catalog's longest hold
    refund_retry_base: timedelta = timedelta(seconds=30)
    refund_max_attempts: int = 8
    key_retention: timedelta = timedelta(days=7)  # how long a retry gets the first call's answer
    # A pingou seat's order is placed from groupbuy's SeatHeld a few milliseconds after the join gave the
    # buyer its id: a call naming it that comes first waits this long for it before NOT_FOUND.
    placement_wait: timedelta = timedelta(seconds=2)
    # How long a group's failure is remembered for a seat's order placed after it: as long as the
    # consumers' inbox remembers events (a replay older than that would be applied afresh anyway).
    failed_group_retention: timedelta = timedelta(days=14)

    def __post_init__(self) -> None:
        if self.hold_margin <= PAYMENT_CONFIRMATION_GRACE:
            raise ValueError("the hold margin must outlast the payment confirmation grace")
