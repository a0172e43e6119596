"""How orders are named and paid, shared by the order service and by groupbuy, which names a seat's order
(and tells the buyer what to pay) before the order service places it from the seat's event; and the one
rule for "paid in time", which the order service's payment acceptance and every timer that ends unpaid
orders or seats (the order service's payment timeout, groupbuy's window job and hold backstop) follow."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

from libs.core.lines import BusinessLine

# Orders: `mo_` / `po_` and 26 base32 characters (130 bits).
ORDER_PREFIX = {BusinessLine.MALL: "mo_", BusinessLine.PINGOU: "po_"}
ID_CHARS = 26
CURRENCY = "CNY"
# The most one payment may be (one million yuan): an order, a listing price or a membership above it
# could never be paid, so each is refused when it is made.
MAX_PAYMENT_MINOR = 100_000_000


def order_id_for(line: BusinessLine, user_id: str, idempotency_key: str) -> str:
    """An order's id is a digest of its buyer and its idempotency key: a retried placement names the same
    order, so whatever the first attempt left (a reservation, a seat) is found again rather than doubled.
    A seat's order is named this way with the seat id as its key."""
    digest = hashlib.sha256(f"{user_id}\x1f{idempotency_key}".encode()).digest()
    return ORDER_PREFIX[line] + base64.b32encode(digest).decode().lower()[:ID_CHARS]


def payment_intent_id(order_id: str) -> str:
    return "pi_" + order_id


# A payment is in time when the provider took it by the order's pay_by (the provider's clock) and its
# confirmation reaches the order service at most this long after pay_by. Catalog's hold of a mall order's
# stock outlives pay_by by more than this (the order service's hold margin), so an accepted payment still
# finds its stock reserved.
PAYMENT_CONFIRMATION_GRACE = timedelta(minutes=2, seconds=30)


def paid_in_time(*, paid_at: datetime, pay_by: datetime, confirmed_at: datetime) -> bool:
    """The one rule for "paid in time": paid by pay_by, and confirmed within the grace after it."""
    return paid_at <= pay_by and confirmed_at <= pay_by + PAYMENT_CONFIRMATION_GRACE


def pay_by_closed_before(now: datetime) -> datetime:
    """Orders and seats whose pay_by is before this can no longer be paid in time at `now` (no confirmation
    is accepted any more): a timer may end those still unpaid, and must not end any other."""
    return now - PAYMENT_CONFIRMATION_GRACE
