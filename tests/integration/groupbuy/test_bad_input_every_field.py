"""Every field of every groupbuy RPC, with each kind of bad value (tests/support/bad_input.py): refused at the
edge as INVALID_ARGUMENT naming the field, writing nothing; never UNKNOWN or INTERNAL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from pingou.groupbuy.v1 import groupbuy_pb2 as pb

from services.groupbuy.entrypoints.validation import SERVICE
from tests.integration.groupbuy.conftest import Platform
from tests.support.bad_input import Good, Rpc, check_rpc

pytestmark = pytest.mark.infra
EMPTY = ("empty",)
PAGING = {"page_size": EMPTY, "page_token": EMPTY}


@dataclass(frozen=True)
class Scene:
    """A pingou SKU with one open group (of five), its leader, and buyers not in it yet."""

    sku: str
    group_id: str
    share_code: str
    leader: str
    buyers: tuple[str, ...]


async def scene(platform: Platform) -> Scene:
    sku = await platform.listing(size=5, stock=100)
    leader = await platform.register()
    opened = await platform.open(leader, sku)
    buyers = tuple([await platform.register() for _ in range(3)])
    return Scene(sku, opened.group.group_id, opened.group.share_code, leader, buyers)


Table = Callable[[Platform, Scene], Rpc]
TABLES: dict[str, Table] = {
    "OpenGroup": lambda p, s: Rpc(
        p.groupbuy.OpenGroup, [Good(pb.OpenGroupRequest(buyer=p.buyer(s.buyers[0]), sku_id=s.sku), p.service())]
    ),
    "JoinGroup": lambda p, s: Rpc(
        p.groupbuy.JoinGroup,
        [
            Good(pb.JoinGroupRequest(buyer=p.buyer(s.buyers[0]), group_id=s.group_id), p.service()),
            Good(pb.JoinGroupRequest(buyer=p.buyer(s.buyers[1]), invite_code=s.share_code), p.service()),
        ],
    ),
    "AutoMatch": lambda p, s: Rpc(
        p.groupbuy.AutoMatch, [Good(pb.AutoMatchRequest(buyer=p.buyer(s.buyers[2]), sku_id=s.sku), p.service())]
    ),
    "ListOpenGroups": lambda p, s: Rpc(
        p.groupbuy.ListOpenGroups,
        [Good(pb.ListOpenGroupsRequest(sku_id=s.sku, page_size=5), p.as_user(s.leader))],
        PAGING,
    ),
    "GetGroup": lambda p, s: Rpc(p.groupbuy.GetGroup, [Good(pb.GetGroupRequest(group_id=s.group_id), p.service())]),
    "ListUserGroups": lambda p, s: Rpc(
        p.groupbuy.ListUserGroups,
        [Good(pb.ListUserGroupsRequest(user_id=s.leader, page_size=5), p.as_user(s.leader))],
        PAGING,
    ),
}


def test_every_groupbuy_rpc_has_a_table() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods}
    assert set(TABLES) == methods


@pytest.mark.parametrize("method", sorted(TABLES))
async def test_every_field_refuses_bad_values_by_name_and_writes_nothing(platform: Platform, method: str) -> None:
    counts: Callable[[], Awaitable[tuple[int, ...]]] = platform.row_counts
    problems = await check_rpc(TABLES[method](platform, await scene(platform)), counts)
    assert problems == []
