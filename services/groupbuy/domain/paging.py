"""Opaque keyset page tokens for the group listings: the key of the last row shown, and what the
listing was of (a token of one SKU's or user's listing is refused for another)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from libs.core import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100


@dataclass(frozen=True, slots=True)
class OpenGroupsPage:
    """After the group (seats_taken, expires_at, group_id) in fullest-first order of one SKU."""

    sku_id: str
    seats_taken: int
    expires_at: datetime
    group_id: str


@dataclass(frozen=True, slots=True)
class UserGroupsPage:
    """After the seat (held_at, seat_id) in newest-first order of one user."""

    user_id: str
    held_at: datetime
    seat_id: str


def encode_open_groups(page: OpenGroupsPage) -> str:
    return _encode(["o", page.sku_id, page.seats_taken, page.expires_at.isoformat(), page.group_id])


def decode_open_groups(token: str, *, sku_id: str) -> OpenGroupsPage:
    try:
        kind, sku, taken, expires, group_id = _decode(token)
        if kind != "o" or not isinstance(taken, int):
            raise ValueError("not an open-groups token")
        page = OpenGroupsPage(str(sku), taken, datetime.fromisoformat(str(expires)), str(uuid.UUID(str(group_id))))
        if page.expires_at.tzinfo is None:
            raise ValueError("not an open-groups token")
    except (ValueError, TypeError):
        raise _bad_token("is not a page token of this listing") from None
    if page.sku_id != sku_id:
        raise _bad_token("belongs to another SKU's listing")
    return page


def encode_user_groups(page: UserGroupsPage) -> str:
    return _encode(["u", page.user_id, page.held_at.isoformat(), page.seat_id])


def decode_user_groups(token: str, *, user_id: str) -> UserGroupsPage:
    try:
        kind, user, held, seat_id = _decode(token)
        page = UserGroupsPage(str(user), datetime.fromisoformat(str(held)), str(uuid.UUID(str(seat_id))))
        if kind != "u" or page.held_at.tzinfo is None:
            raise ValueError("not a user-groups token")
    except (ValueError, TypeError):
        raise _bad_token("is not a page token of this listing") from None
    if page.user_id != user_id:
        raise _bad_token("belongs to another user's listing")
    return page


def _encode(values: list[object]) -> str:
    raw = json.dumps(values, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str) -> list[object]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("undecodable") from None
    if not isinstance(value, list):
        raise ValueError("not a list")
    return value


def _bad_token(description: str) -> InvalidArgument:
    return InvalidArgument(
        f"page_token {description}", reason="INVALID_PAGE_TOKEN", violations=[FieldViolation("page_token", description)]
    )
