"""Flow 7: a token of one line can neither read, list nor change the other line's users, on any RPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from pingou.common.v1 import common_pb2
from pingou.segmentation.v1 import segmentation_pb2 as pb
from structlog.testing import capture_logs

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.segmentation.conftest import Segmentation, status_of

pytestmark = pytest.mark.infra

PEOPLE_ROLES = (Role.OPERATOR, Role.ANALYTICS)
PROTO_LINE = {BusinessLine.MALL: common_pb2.BUSINESS_LINE_MALL, BusinessLine.PINGOU: common_pb2.BUSINESS_LINE_PINGOU}
Call = Callable[[Segmentation, str, BusinessLine, list[tuple[str, str]]], Awaitable[object]]

# Every RPC, aimed at `target` (a user of `line`) with the other line's token.
CALLS: dict[str, Call] = {
    "GetUser": lambda s, target, line, md: s.stub.GetUser(pb.GetUserRequest(user_id=target), metadata=md),
    "UpdateProfile": lambda s, target, line, md: s.stub.UpdateProfile(
        pb.UpdateProfileRequest(user_id=target, city="上海"), metadata=md
    ),
    "LinkIdentity": lambda s, target, line, md: s.stub.LinkIdentity(
        pb.LinkIdentityRequest(
            user_id=target, identity=pb.ExternalIdentity(kind=pb.IDENTITY_KIND_PHONE, value="13900000001")
        ),
        metadata=md,
    ),
    "GetLinkedAccounts": lambda s, target, line, md: s.stub.GetLinkedAccounts(
        pb.GetLinkedAccountsRequest(user_id=target), metadata=md
    ),
    "IsNewToCompany": lambda s, target, line, md: s.stub.IsNewToCompany(
        pb.IsNewToCompanyRequest(user_id=target), metadata=md
    ),
    "GetSegments": lambda s, target, line, md: s.stub.GetSegments(pb.GetSegmentsRequest(user_id=target), metadata=md),
    "DefineSegment": lambda s, target, line, md: s.stub.DefineSegment(
        pb.DefineSegmentRequest(line=PROTO_LINE[line], segment_id="intruder", rule=pb.SegmentRule()), metadata=md
    ),
    "GetSegment": lambda s, target, line, md: s.stub.GetSegment(
        pb.GetSegmentRequest(line=PROTO_LINE[line], segment_id="everyone"), metadata=md
    ),
    "ListSegmentMembers": lambda s, target, line, md: s.stub.ListSegmentMembers(
        pb.ListSegmentMembersRequest(line=PROTO_LINE[line], segment_id="everyone"), metadata=md
    ),
}


def other(line: BusinessLine) -> BusinessLine:
    return BusinessLine.MALL if line is BusinessLine.PINGOU else BusinessLine.PINGOU


@pytest.mark.parametrize("target_line", list(BusinessLine))
@pytest.mark.parametrize("rpc", sorted(CALLS))
async def test_a_token_of_the_other_line_is_denied_and_logged(
    segmentation: Segmentation, rpc: str, target_line: BusinessLine
) -> None:
    target = await segmentation.register(target_line, city="成都")
    await segmentation.stub.DefineSegment(
        pb.DefineSegmentRequest(line=PROTO_LINE[target_line], segment_id="everyone", rule=pb.SegmentRule()),
        metadata=segmentation.token(target_line, Role.OPERATOR),
    )
    # No key signs people's roles and the service role together: one intruder of each kind.
    for subject, roles in (("intruder", PEOPLE_ROLES), ("accounts", (Role.SERVICE,))):
        intruder = segmentation.token(other(target_line), *roles, subject=subject)
        with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as caught:
            await CALLS[rpc](segmentation, target.user_id, target_line, intruder)
        assert status_of(caught.value) == (grpc.StatusCode.PERMISSION_DENIED, "LINE_MISMATCH")
        assert any(line["event"] == "cross_line_access_denied" and line["subject"] == subject for line in logs)
    unchanged = await segmentation.get(target.user_id)
    assert unchanged.city == "成都"
    assert (
        await segmentation.count(
            "SELECT count(*) FROM segmentation_identity.identity_links WHERE user_id = $1", target.user_id
        )
        == 0
    )


async def test_registration_always_lands_on_the_callers_line_with_its_own_id_space(segmentation: Segmentation) -> None:
    pingou = await segmentation.register(BusinessLine.PINGOU)
    mall = await segmentation.register(BusinessLine.MALL)
    assert pingou.user_id.startswith("pu_")
    assert pingou.line == common_pb2.BUSINESS_LINE_PINGOU
    assert mall.user_id.startswith("mu_")
    assert mall.line == common_pb2.BUSINESS_LINE_MALL
    assert (
        await segmentation.count("SELECT count(*) FROM segmentation_mall.users WHERE user_id = $1", pingou.user_id) == 0
    )


async def test_a_user_reads_their_own_account_but_not_anothers(segmentation: Segmentation) -> None:
    me = await segmentation.register(BusinessLine.PINGOU)
    someone = await segmentation.register(BusinessLine.PINGOU)
    my_token = segmentation.token(BusinessLine.PINGOU, Role.USER, subject=me.user_id)
    assert (
        await segmentation.stub.GetUser(pb.GetUserRequest(user_id=me.user_id), metadata=my_token)
    ).user_id == me.user_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.stub.GetUser(pb.GetUserRequest(user_id=someone.user_id), metadata=my_token)
    assert status_of(caught.value) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.stub.GetLinkedAccounts(pb.GetLinkedAccountsRequest(user_id=me.user_id), metadata=my_token)
    assert status_of(caught.value) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
