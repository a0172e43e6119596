"""Keyset positions of the group listings, and their page tokens (libs.core.paging, bound to the SKU or
user the listing is of)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from libs.core.paging import bad_page_token, decode_page_token, encode_page_token

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
# What a real position can hold: a forged token outside these would overflow the columns (int4,
# timestamptz) and must be refused as a bad token, not fail inside the database.
MAX_SEATS_TAKEN = 50
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)


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
        seats_taken = int(taken)
        if not 0 <= seats_taken <= MAX_SEATS_TAKEN:
            raise ValueError("seats_taken out of range")
        return OpenGroupsPage(seats_taken, _moment(str(expires)), str(uuid.UUID(str(group_id))))
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
    if not EARLIEST <= moment <= LATEST:
        raise ValueError("a moment out of range")
    return moment
