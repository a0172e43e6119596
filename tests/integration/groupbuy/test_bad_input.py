"""Bad input on every RPC gets a clear status with the field named, and nothing is written; callers of the
wrong line, role or user are refused."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pingou.groupbuy.v1 import groupbuy_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit import service_token_metadata
from libs.grpckit.errors import reason_of
from tests.integration.groupbuy.conftest import Platform

pytestmark = pytest.mark.infra

GOOD_USER = "pu_42"
GOOD_GROUP = str(uuid.uuid4())


def _buyer(**changes: Any) -> pb.Buyer:
    fields = {"user_id": GOOD_USER, "shipping_city": "临沂", "channel": 2, "idempotency_key": "k-1", **changes}
    return pb.Buyer(**fields)


# (method, request, the field that must be named)
BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(), sku_id=""), "sku_id"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(), sku_id="SKU WITH SPACES"), "sku_id"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(user_id="alice"), sku_id="sku-1"), "buyer.user_id"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(shipping_city=""), sku_id="sku-1"), "buyer.shipping_city"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(shipping_city="城" * 41), sku_id="sku-1"), "buyer.shipping_city"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(channel=0), sku_id="sku-1"), "buyer.channel"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(channel=99), sku_id="sku-1"), "buyer.channel"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(idempotency_key=""), sku_id="sku-1"), "buyer.idempotency_key"),
    ("OpenGroup", pb.OpenGroupRequest(buyer=_buyer(idempotency_key="x" * 65), sku_id="sku-1"), "buyer.idempotency_key"),
    ("JoinGroup", pb.JoinGroupRequest(buyer=_buyer()), "target"),
    ("JoinGroup", pb.JoinGroupRequest(buyer=_buyer(), group_id="not-a-uuid"), "group_id"),
    ("JoinGroup", pb.JoinGroupRequest(buyer=_buyer(), invite_code="short"), "invite_code"),
    ("JoinGroup", pb.JoinGroupRequest(buyer=_buyer(user_id=""), group_id=GOOD_GROUP), "buyer.user_id"),
    ("AutoMatch", pb.AutoMatchRequest(buyer=_buyer(), sku_id=""), "sku_id"),
    ("AutoMatch", pb.AutoMatchRequest(buyer=_buyer(channel=7), sku_id="sku-1"), "buyer.channel"),
    ("ListOpenGroups", pb.ListOpenGroupsRequest(sku_id=""), "sku_id"),
    ("ListOpenGroups", pb.ListOpenGroupsRequest(sku_id="sku-1", page_size=101), "page_size"),
    ("ListOpenGroups", pb.ListOpenGroupsRequest(sku_id="sku-1", page_token="garbage"), "page_token"),
    ("GetGroup", pb.GetGroupRequest(group_id=""), "group_id"),
    ("GetGroup", pb.GetGroupRequest(group_id="123"), "group_id"),
    ("ListUserGroups", pb.ListUserGroupsRequest(user_id="nobody"), "user_id"),
    ("ListUserGroups", pb.ListUserGroupsRequest(user_id=GOOD_USER, page_size=1000), "page_size"),
    ("ListUserGroups", pb.ListUserGroupsRequest(user_id=GOOD_USER, page_token="!!"), "page_token"),
    # Forged tokens of every kind, signed ones whose values no column can hold among them: test_page_tokens.py.
]


def _fields(error: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(error)
    found: set[str] = set()
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found |= {violation.field for violation in bad.field_violations}
    return found


def _call(platform: Platform, method: str) -> Callable[..., Awaitable[Any]]:
    call: Callable[..., Awaitable[Any]] = getattr(platform.groupbuy, method)
    return call


@pytest.mark.parametrize(("method", "request_", "field"), BAD_REQUESTS)
async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    platform: Platform, method: str, request_: Any, field: str
) -> None:
    before = await platform.row_counts()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _call(platform, method)(request_, metadata=platform.service())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _fields(error.value) or reason_of(error.value) == "INVALID_PAGE_TOKEN"
    assert await platform.row_counts() == before


async def test_a_body_that_is_not_the_message_is_invalid_argument(platform: Platform) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{platform.server.port}")
    try:
        call = channel.unary_unary("/pingou.groupbuy.v1.GroupbuyService/OpenGroup")
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call(b"\xff\xff\xff", metadata=platform.service(), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await channel.close()


async def test_wrong_callers_are_refused_and_nothing_is_written(platform: Platform) -> None:
    sku = await platform.listing(size=2)
    buyer = await platform.register()
    opened = await platform.open(buyer, sku)
    before = await platform.row_counts()
    mall_service = service_token_metadata(platform.mint(line=BusinessLine.MALL, subject="app", roles=(Role.SERVICE,)))
    someone_else = platform.as_user("pu_999999")
    open_it = pb.OpenGroupRequest(buyer=platform.buyer(buyer), sku_id=sku)
    open_for_mall_user = pb.OpenGroupRequest(buyer=platform.buyer("mu_7"), sku_id=sku)
    open_unlisted = pb.OpenGroupRequest(buyer=platform.buyer(buyer), sku_id="sku-unlisted")
    cases: list[tuple[Awaitable[Any], grpc.StatusCode, str]] = [
        (platform.groupbuy.GetGroup(pb.GetGroupRequest(group_id=opened.group.group_id), metadata=mall_service),
         grpc.StatusCode.PERMISSION_DENIED, "LINE_NOT_SERVED"),
        (platform.groupbuy.OpenGroup(open_it, metadata=mall_service), grpc.StatusCode.PERMISSION_DENIED,
         "LINE_NOT_SERVED"),
        (platform.groupbuy.OpenGroup(open_it, metadata=someone_else), grpc.StatusCode.PERMISSION_DENIED,
         "ROLE_REQUIRED"),
        (platform.groupbuy.OpenGroup(open_for_mall_user, metadata=platform.service()),
         grpc.StatusCode.PERMISSION_DENIED, "LINE_MISMATCH"),
        (platform.groupbuy.ListUserGroups(pb.ListUserGroupsRequest(user_id=buyer), metadata=someone_else),
         grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED"),
        (platform.groupbuy.GetGroup(pb.GetGroupRequest(group_id=opened.group.group_id)),
         grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"),
        (platform.groupbuy.GetGroup(pb.GetGroupRequest(group_id=str(uuid.uuid4())), metadata=platform.service()),
         grpc.StatusCode.NOT_FOUND, "GROUP_NOT_FOUND"),
        (platform.groupbuy.OpenGroup(open_unlisted, metadata=platform.as_user(buyer)), grpc.StatusCode.NOT_FOUND,
         "NOT_LISTED"),
    ]  # fmt: skip
    for call, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert (error.value.code(), reason_of(error.value)) == (code, reason)
    assert await platform.row_counts() == before


async def test_listings_page_through_open_groups_fullest_first_and_a_users_groups_newest_first(
    platform: Platform,
) -> None:
    sku = await platform.listing(size=4, stock=50)
    leaders = [await platform.register() for _ in range(5)]
    opened = [await platform.open(leader, sku) for leader in leaders]
    fuller = opened[3].group.group_id
    await platform.join(await platform.register(), group_id=fuller)
    await platform.join(await platform.register(), group_id=fuller)
    await platform.join(await platform.register(), group_id=opened[1].group.group_id)

    seen: list[pb.Group] = []
    token = ""
    while True:
        page = await platform.groupbuy.ListOpenGroups(
            pb.ListOpenGroupsRequest(sku_id=sku, page_size=2, page_token=token), metadata=platform.as_user(leaders[0])
        )
        seen.extend(page.groups)
        token = page.next_page_token
        if not token:
            break
    assert [g.group_id for g in seen][:2] == [fuller, opened[1].group.group_id]
    assert sorted(g.group_id for g in seen) == sorted(r.group.group_id for r in opened)
    assert [g.seats_taken for g in seen] == sorted((g.seats_taken for g in seen), reverse=True)

    member = await platform.register()
    for result in opened[:3]:
        await platform.join(member, group_id=result.group.group_id)
    first = await platform.groupbuy.ListUserGroups(
        pb.ListUserGroupsRequest(user_id=member, page_size=2), metadata=platform.as_user(member)
    )
    rest = await platform.groupbuy.ListUserGroups(
        pb.ListUserGroupsRequest(user_id=member, page_size=2, page_token=first.next_page_token),
        metadata=platform.as_user(member),
    )
    listed = [g.group_id for g in [*first.groups, *rest.groups]]
    assert listed == [r.group.group_id for r in reversed(opened[:3])]
    assert not rest.next_page_token
    assert all(g.seats[0].user_id == member for g in [*first.groups, *rest.groups])
