"""Keyset positions of the group listings, and their page tokens (libs.core.paging, bound to the SKU or
user the listing is of)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from libs.core.paging import bad_page_token, decode_page_token, encode_page_token

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100


@dataclass(frozen=True, slots=True)
class OpenGroupsPage:
    """After the group (seats_taken, expires_at, group_id) in fullest-first order of one SKU."""

    seats_taken: int
    expires_at: datetime
    group_id: str


@dataclass(frozen=True, slots=True)
class UserGroupsPage:
    """After the seat (held_at, seat_id) in newest-first order of one user."""

    held_at: datetime
    seat_id: str


def encode_open_groups(page: OpenGroupsPage, *, sku_id: str) -> str:
    return encode_page_token([page.seats_taken, page.expires_at.isoformat(), page.group_id], scope=f"open:{sku_id}")


def decode_open_groups(token: str, *, sku_id: str) -> OpenGroupsPage:
    taken, expires, group_id = decode_page_token(token, scope=f"open:{sku_id}", shape=(int, str, str))
    try:
        return OpenGroupsPage(int(taken), _moment(str(expires)), str(uuid.UUID(str(group_id))))
    except ValueError:
        raise bad_page_token() from None


def encode_user_groups(page: UserGroupsPage, *, user_id: str) -> str:
    return encode_page_token([page.held_at.isoformat(), page.seat_id], scope=f"user:{user_id}")


def decode_user_groups(token: str, *, user_id: str) -> UserGroupsPage:
    held, seat_id = decode_page_token(token, scope=f"user:{user_id}", shape=(str, str))
    try:
        return UserGroupsPage(_moment(str(held)), str(uuid.UUID(str(seat_id))))
    except ValueError:
        raise bad_page_token() from None


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a moment without its zone")
    return moment
