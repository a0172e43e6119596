"""Keyset positions of the group listings, and their page tokens (signed by libs.core.paging, bound to the
SKU or user the listing is of)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from libs.core.paging import CANONICAL_UUID, Integer, Moment, PageTokens, Text, page_shape

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
# What a real position can hold (seats_taken is an int4 no group size exceeds; moments are timestamptz):
# a token outside these is refused as a bad token, never sent to the database.
MAX_SEATS_TAKEN = 50
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
OPEN_GROUPS_PAGE = page_shape(Integer(0, MAX_SEATS_TAKEN), Moment(EARLIEST, LATEST), Text(CANONICAL_UUID))
USER_GROUPS_PAGE = page_shape(Moment(EARLIEST, LATEST), Text(CANONICAL_UUID))


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


def encode_open_groups(tokens: PageTokens, page: OpenGroupsPage, *, sku_id: str) -> str:
    position = (page.seats_taken, page.expires_at, page.group_id)
    return tokens.encode(OPEN_GROUPS_PAGE, position, scope=f"open:{sku_id}")


def decode_open_groups(tokens: PageTokens, token: str, *, sku_id: str) -> OpenGroupsPage:
    return OpenGroupsPage(*tokens.decode(OPEN_GROUPS_PAGE, token, scope=f"open:{sku_id}"))


def encode_user_groups(tokens: PageTokens, page: UserGroupsPage, *, user_id: str) -> str:
    return tokens.encode(USER_GROUPS_PAGE, (page.held_at, page.seat_id), scope=f"user:{user_id}")


def decode_user_groups(tokens: PageTokens, token: str, *, user_id: str) -> UserGroupsPage:
    return UserGroupsPage(*tokens.decode(USER_GROUPS_PAGE, token, scope=f"user:{user_id}"))
