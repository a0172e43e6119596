"""ListOpenGroups' and ListUserGroups' page tokens are signed and range-checked: a forged, tampered or
borrowed token is INVALID_ARGUMENT (INVALID_PAGE_TOKEN, naming page_token) and never reaches the
database (seats beyond int4 or moments beyond year 9999 once did)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pingou.groupbuy.v1 import groupbuy_pb2 as pb

from libs.core.paging import PageTokens
from services.groupbuy.bootstrap import NAME
from services.groupbuy.domain.paging import (
    OpenGroupsPage,
    UserGroupsPage,
    decode_open_groups,
    decode_user_groups,
    encode_open_groups,
    encode_user_groups,
)
from tests.integration.groupbuy.conftest import Platform
from tests.support.page_tokens import another_key, random_token, refused_as_bad_page_token, tampered, unsigned

pytestmark = pytest.mark.infra
LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14)))  # after year 9999 in UTC
SOME_ID = str(uuid.uuid4())
COMMON = ["random bytes", "tampered", "another listing's", "another service's", "another key's"]
OPEN_FORGERIES = [
    "unsigned, seats beyond int4",
    *COMMON,
    "signed, seats beyond int4",
    "signed, negative seats",
    "signed, year 9999 at -14:00",
    "signed, not a group id",
]
USER_FORGERIES = [
    "unsigned, before year 1",
    *COMMON,
    "signed, year 9999 at -14:00",
    "signed, before 2000",
    "signed, not a seat id",
]


@dataclass(frozen=True)
class Listings:
    sku: str  # two open groups
    other_sku: str  # two open groups too
    member: str  # a seat in each group of `sku`
    other_member: str  # likewise


@pytest.fixture(scope="module")
async def listings(platform: Platform) -> Listings:
    sku, other_sku = await platform.listing(size=4, stock=50), await platform.listing(size=4, stock=50)
    groups = [(await platform.open(await platform.register(), one)).group.group_id for one in (sku, sku, other_sku)]
    await platform.open(await platform.register(), other_sku)
    member, other_member = await platform.register(), await platform.register()
    for user in (member, other_member):
        for group_id in groups[:2]:
            await platform.join(user, group_id=group_id)
    return Listings(sku, other_sku, member, other_member)


def _open(sku: str, token: str = "") -> pb.ListOpenGroupsRequest:
    return pb.ListOpenGroupsRequest(sku_id=sku, page_size=1, page_token=token)


def _mine(user_id: str, token: str = "") -> pb.ListUserGroupsRequest:
    return pb.ListUserGroupsRequest(user_id=user_id, page_size=1, page_token=token)


async def test_the_servers_tokens_are_the_ones_these_tests_sign(
    platform: Platform, listings: Listings, page_token_key: Path
) -> None:
    ours = PageTokens.from_file(page_token_key, service=NAME)
    first = await platform.groupbuy.ListOpenGroups(_open(listings.sku), metadata=platform.service())
    position = decode_open_groups(ours, first.next_page_token, sku_id=listings.sku)
    assert position.group_id == first.groups[0].group_id
    again = encode_open_groups(ours, position, sku_id=listings.sku)
    rest = await platform.groupbuy.ListOpenGroups(_open(listings.sku, again), metadata=platform.service())
    assert rest.groups
    assert rest.groups[0].group_id != position.group_id
    mine = await platform.groupbuy.ListUserGroups(_mine(listings.member), metadata=platform.service())
    seat = decode_user_groups(ours, mine.next_page_token, user_id=listings.member)
    assert seat.seat_id == mine.groups[0].seats[0].seat_id
    again = encode_user_groups(ours, seat, user_id=listings.member)
    older = await platform.groupbuy.ListUserGroups(_mine(listings.member, again), metadata=platform.service())
    assert older.groups[0].seats[0].seat_id != seat.seat_id


@pytest.mark.parametrize("forgery", OPEN_FORGERIES)
async def test_a_forged_open_groups_page_token_is_invalid_argument(
    platform: Platform, listings: Listings, page_token_key: Path, forgery: str
) -> None:
    metadata = platform.service()
    first = await platform.groupbuy.ListOpenGroups(_open(listings.sku), metadata=metadata)
    elsewhere = await platform.groupbuy.ListOpenGroups(_open(listings.other_sku), metadata=metadata)
    ours = PageTokens.from_file(page_token_key, service=NAME)
    now, sku = datetime.now(UTC), listings.sku
    token = {
        "unsigned, seats beyond int4": unsigned([2**40, "2026-01-01T00:00:00+00:00", SOME_ID], scope=f"open:{sku}"),
        "random bytes": random_token(),
        "tampered": tampered(first.next_page_token),
        "another listing's": elsewhere.next_page_token,
        "another service's": encode_open_groups(
            PageTokens.from_file(page_token_key, service="order"), OpenGroupsPage(1, now, SOME_ID), sku_id=sku
        ),
        "another key's": encode_open_groups(another_key(NAME), OpenGroupsPage(1, now, SOME_ID), sku_id=sku),
        "signed, seats beyond int4": encode_open_groups(ours, OpenGroupsPage(2**40, now, SOME_ID), sku_id=sku),
        "signed, negative seats": encode_open_groups(ours, OpenGroupsPage(-1, now, SOME_ID), sku_id=sku),
        "signed, year 9999 at -14:00": encode_open_groups(ours, OpenGroupsPage(1, LATE, SOME_ID), sku_id=sku),
        "signed, not a group id": encode_open_groups(ours, OpenGroupsPage(1, now, "g-1"), sku_id=sku),
    }[forgery]
    await refused_as_bad_page_token(platform.groupbuy.ListOpenGroups(_open(sku, token), metadata=metadata))


@pytest.mark.parametrize("forgery", USER_FORGERIES)
async def test_a_forged_user_groups_page_token_is_invalid_argument(
    platform: Platform, listings: Listings, page_token_key: Path, forgery: str
) -> None:
    metadata = platform.service()
    first = await platform.groupbuy.ListUserGroups(_mine(listings.member), metadata=metadata)
    others = await platform.groupbuy.ListUserGroups(_mine(listings.other_member), metadata=metadata)
    ours = PageTokens.from_file(page_token_key, service=NAME)
    now, user = datetime.now(UTC), listings.member
    token = {
        "unsigned, before year 1": unsigned(["0001-01-01T00:00:00+05:00", SOME_ID], scope=f"user:{user}"),
        "random bytes": random_token(),
        "tampered": tampered(first.next_page_token),
        "another listing's": others.next_page_token,
        "another service's": encode_user_groups(
            PageTokens.from_file(page_token_key, service="order"), UserGroupsPage(now, SOME_ID), user_id=user
        ),
        "another key's": encode_user_groups(another_key(NAME), UserGroupsPage(now, SOME_ID), user_id=user),
        "signed, year 9999 at -14:00": encode_user_groups(ours, UserGroupsPage(LATE, SOME_ID), user_id=user),
        "signed, before 2000": encode_user_groups(
            ours, UserGroupsPage(datetime(1999, 12, 31, tzinfo=UTC), SOME_ID), user_id=user
        ),
        "signed, not a seat id": encode_user_groups(ours, UserGroupsPage(now, "seat-1"), user_id=user),
    }[forgery]
    await refused_as_bad_page_token(platform.groupbuy.ListUserGroups(_mine(user, token), metadata=metadata))
