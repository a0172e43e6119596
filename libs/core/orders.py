"""How orders are named and paid, shared by the order service and by groupbuy, which names a seat's order
(and tells the buyer what to pay) before the order service places it from the seat's event."""

from __future__ import annotations

import base64
import hashlib

from libs.core.lines import BusinessLine

# Orders: `mo_` / `po_` and 26 base32 characters (130 bits).
ORDER_PREFIX = {BusinessLine.MALL: "mo_", BusinessLine.PINGOU: "po_"}
ID_CHARS = 26
CURRENCY = "CNY"


def order_id_for(line: BusinessLine, user_id: str, idempotency_key: str) -> str:
    """An order's id is a digest of its buyer and its idempotency key: a retried placement names the same
    order, so whatever the first attempt left (a reservation, a seat) is found again rather than doubled.
    A seat's order is named this way with the seat id as its key."""
    digest = hashlib.sha256(f"{user_id}\x1f{idempotency_key}".encode()).digest()
    return ORDER_PREFIX[line] + base64.b32encode(digest).decode().lower()[:ID_CHARS]


def payment_intent_id(order_id: str) -> str:
    return "pi_" + order_id
