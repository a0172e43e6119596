"""ListSegmentMembers' page tokens are signed and range-checked: a forged, tampered or borrowed token is
INVALID_ARGUMENT (INVALID_PAGE_TOKEN, naming page_token) and never reaches the database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pingou.common.v1 import common_pb2
from pingou.segmentation.v1 import segmentation_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from libs.core.paging import PageTokens
from services.segmentation.bootstrap import NAME
from services.segmentation.domain.paging import PageToken
from tests.integration.segmentation.conftest import Segmentation
from tests.support.page_tokens import another_key, random_token, refused_as_bad_page_token, tampered, unsigned

pytestmark = pytest.mark.infra
PINGOU = common_pb2.BUSINESS_LINE_PINGOU
FORGERIES = [
    "unsigned, a version beyond int4",
    "random bytes",
    "tampered",
    "another segment's",
    "another service's",
    "another key's",
    "signed, a version beyond int4",
    "signed, version 0",
    "signed, a user number beyond bigint",
    "signed, a negative user number",
]


async def _two_segments(segmentation: Segmentation) -> tuple[str, str, list[tuple[str, str]]]:
    """Two segments of everyone, with more members than one page holds; and an operator's metadata."""
    operator = segmentation.token(BusinessLine.PINGOU, Role.OPERATOR)
    listed, other = f"paged-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    for segment_id in (listed, other):
        await segmentation.stub.DefineSegment(
            pb.DefineSegmentRequest(line=PINGOU, segment_id=segment_id, rule=pb.SegmentRule()), metadata=operator
        )
    for _ in range(3):
        await segmentation.register(BusinessLine.PINGOU)
    return listed, other, operator


def _page(segment_id: str, token: str = "") -> pb.ListSegmentMembersRequest:
    return pb.ListSegmentMembersRequest(line=PINGOU, segment_id=segment_id, page_size=1, page_token=token)


async def test_the_servers_tokens_are_the_ones_these_tests_sign(
    segmentation: Segmentation, page_token_key: Path
) -> None:
    listed, _, operator = await _two_segments(segmentation)
    first = await segmentation.stub.ListSegmentMembers(_page(listed), metadata=operator)
    ours = PageTokens.from_file(page_token_key, service=NAME)
    position = PageToken.decode(ours, first.next_page_token, segment_id=listed)
    assert position.version == first.segment_version
    again = await segmentation.stub.ListSegmentMembers(_page(listed, position.encode(ours)), metadata=operator)
    assert [user.user_id for user in again.users] != [user.user_id for user in first.users]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_member_page_token_is_invalid_argument(
    segmentation: Segmentation, page_token_key: Path, forgery: str
) -> None:
    listed, other, operator = await _two_segments(segmentation)
    first = await segmentation.stub.ListSegmentMembers(_page(listed), metadata=operator)
    elsewhere = await segmentation.stub.ListSegmentMembers(_page(other), metadata=operator)
    ours = PageTokens.from_file(page_token_key, service=NAME)
    token = {
        "unsigned, a version beyond int4": unsigned([2**40, 0], scope=f"segment:{listed}"),
        "random bytes": random_token(),
        "tampered": tampered(first.next_page_token),
        "another segment's": elsewhere.next_page_token,
        "another service's": PageToken(listed, 1, 0).encode(PageTokens.from_file(page_token_key, service="catalog")),
        "another key's": PageToken(listed, 1, 0).encode(another_key(NAME)),
        "signed, a version beyond int4": PageToken(listed, 2**40, 0).encode(ours),
        "signed, version 0": PageToken(listed, 0, 0).encode(ours),
        "signed, a user number beyond bigint": PageToken(listed, 1, 2**63).encode(ours),
        "signed, a negative user number": PageToken(listed, 1, -1).encode(ours),
    }[forgery]
    await refused_as_bad_page_token(segmentation.stub.ListSegmentMembers(_page(listed, token), metadata=operator))
