"""Every field of every segmentation RPC, with each kind of bad value (tests/support/bad_input.py): refused at
the edge as INVALID_ARGUMENT naming the field, writing nothing; never UNKNOWN or INTERNAL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from pingou.common.v1 import common_pb2
from pingou.segmentation.v1 import segmentation_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from services.segmentation.domain.model import MAX_ORDER_COUNT
from services.segmentation.entrypoints.validation import SERVICE
from tests.integration.segmentation.conftest import Segmentation
from tests.support.bad_input import Good, Rpc, check_rpc
from tests.support.database import fetchval

pytestmark = pytest.mark.infra
PINGOU = BusinessLine.PINGOU
PROTO_PINGOU = common_pb2.BUSINESS_LINE_PINGOU
EMPTY = ("empty",)
SEGMENT = "every-field"


async def row_counts(segmentation: Segmentation) -> tuple[Any, ...]:
    """Rows of the registry, the links and the segments, and a digest of the profiles a change would move."""
    counts: list[Any] = []
    for table in (
        "segmentation_pingou.users",
        "segmentation_mall.users",
        "segmentation_identity.identity_links",
        "segmentation_pingou.segments",
        "segmentation_mall.segments",
    ):
        counts.append(await segmentation.count(f"SELECT count(*) FROM {table}"))  # noqa: S608  -- fixed names
    counts.append(
        await fetchval(
            segmentation.database_url,
            "SELECT md5(coalesce(string_agg(user_id || city || channel, ',' ORDER BY user_id), ''))"
            " FROM segmentation_pingou.users",
        )
    )
    return tuple(counts)


def phone() -> pb.ExternalIdentity:
    return pb.ExternalIdentity(kind=pb.IDENTITY_KIND_PHONE, value=f"138{random.randrange(10**8):08d}")


def unionid() -> pb.ExternalIdentity:
    return pb.ExternalIdentity(kind=pb.IDENTITY_KIND_WECHAT_UNIONID, value=f"o{uuid.uuid4().hex}")


def rule() -> pb.SegmentRule:
    return pb.SegmentRule(
        min_tier=3,
        max_tier=6,
        channels=[pb.CHANNEL_WECHAT_MINI_PROGRAM],
        new_to_company=True,
        dormant_days=30,
        plus_member=False,
        min_orders=1,
        max_orders=10,
    )


Table = Callable[[Segmentation, str], Rpc]


def _user_only(method: str, message: type[pb.GetUserRequest | pb.GetSegmentsRequest]) -> Table:
    return lambda s, user: Rpc(getattr(s.stub, method), [Good(message(user_id=user), s.token(PINGOU))])


TABLES: dict[str, Table] = {
    "RegisterUser": lambda s, user: Rpc(
        s.stub.RegisterUser,
        [
            Good(
                pb.RegisterUserRequest(city="杭州", channel=pb.CHANNEL_H5, identities=[phone(), unionid()]),
                s.token(PINGOU),
            )
        ],
        {"identities": EMPTY},
    ),
    "GetUser": _user_only("GetUser", pb.GetUserRequest),
    "UpdateProfile": lambda s, user: Rpc(
        s.stub.UpdateProfile,
        [Good(pb.UpdateProfileRequest(user_id=user, city="郑州", channel=pb.CHANNEL_PINGOU_APP), s.token(PINGOU))],
    ),
    "LinkIdentity": lambda s, user: Rpc(
        s.stub.LinkIdentity, [Good(pb.LinkIdentityRequest(user_id=user, identity=unionid()), s.token(PINGOU))]
    ),
    "GetLinkedAccounts": _user_only("GetLinkedAccounts", pb.GetLinkedAccountsRequest),  # type: ignore[arg-type]  # a user-only request too
    "IsNewToCompany": _user_only("IsNewToCompany", pb.IsNewToCompanyRequest),  # type: ignore[arg-type]  # likewise
    "DefineSegment": lambda s, user: Rpc(
        s.stub.DefineSegment,
        [
            Good(
                pb.DefineSegmentRequest(
                    line=PROTO_PINGOU, segment_id=SEGMENT, description="新人 三到六线", rule=rule()
                ),
                s.token(PINGOU, Role.OPERATOR),
            )
        ],
        # No description; an empty rule (everyone); any channel; no lower bound on orders.
        {"description": EMPTY, "rule": EMPTY, "rule.channels": EMPTY, "rule.min_orders": EMPTY},
    ),
    "GetSegment": lambda s, user: Rpc(
        s.stub.GetSegment, [Good(pb.GetSegmentRequest(line=PROTO_PINGOU, segment_id=SEGMENT), s.token(PINGOU))]
    ),
    "ListSegments": lambda s, user: Rpc(
        s.stub.ListSegments, [Good(pb.ListSegmentsRequest(line=PROTO_PINGOU), s.token(PINGOU, Role.OPERATOR))]
    ),
    "GetSegments": _user_only("GetSegments", pb.GetSegmentsRequest),
    "ListSegmentMembers": lambda s, user: Rpc(
        s.stub.ListSegmentMembers,
        [Good(pb.ListSegmentMembersRequest(line=PROTO_PINGOU, segment_id=SEGMENT, page_size=10), s.token(PINGOU))],
        {"page_size": EMPTY, "page_token": EMPTY},
    ),
}


def test_every_segmentation_rpc_has_a_table() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods}
    assert set(TABLES) == methods


@pytest.mark.parametrize("method", sorted(TABLES))
async def test_every_field_refuses_bad_values_by_name_and_writes_nothing(
    segmentation: Segmentation, method: str
) -> None:
    user = await segmentation.register(PINGOU, city="临沂")
    await segmentation.stub.DefineSegment(
        pb.DefineSegmentRequest(line=PROTO_PINGOU, segment_id=SEGMENT, rule=rule()),
        metadata=segmentation.token(PINGOU, Role.OPERATOR),
    )
    problems = await check_rpc(TABLES[method](segmentation, user.user_id), lambda: row_counts(segmentation))
    assert problems == []


async def test_order_bounds_no_order_count_can_reach_are_refused_and_the_line_keeps_answering(
    segmentation: Segmentation,
) -> None:
    # Once stored, such a rule made every GetSegments of the line fail (order_count is an integer column).
    user = await segmentation.register(PINGOU)
    operator = segmentation.token(PINGOU, Role.OPERATOR)
    before = await row_counts(segmentation)
    for name, bound in (("min_orders", 2**31), ("max_orders", 2**32 - 1), ("min_orders", MAX_ORDER_COUNT + 1)):
        bounded = pb.SegmentRule()
        setattr(bounded, name, bound)
        request = pb.DefineSegmentRequest(line=PROTO_PINGOU, segment_id="big-spenders", rule=bounded)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await segmentation.stub.DefineSegment(request, metadata=operator)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"rule.{name}" in (caught.value.details() or "")
    assert await row_counts(segmentation) == before
    await segmentation.stub.DefineSegment(
        pb.DefineSegmentRequest(
            line=PROTO_PINGOU, segment_id="big-spenders", rule=pb.SegmentRule(min_orders=MAX_ORDER_COUNT)
        ),
        metadata=operator,
    )
    answer = await segmentation.stub.GetSegments(pb.GetSegmentsRequest(user_id=user.user_id), metadata=operator)
    assert "big-spenders" not in {membership.segment_id for membership in answer.segments}
