"""Bad input gets a clear status with the reason and the offending fields, and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pingou.common.v1 import common_pb2
from pingou.segmentation.v1 import segmentation_pb2 as pb
from prometheus_client import REGISTRY

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.segmentation.conftest import Segmentation, status_of

pytestmark = pytest.mark.infra
PINGOU = common_pb2.BUSINESS_LINE_PINGOU


def fields_of(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            return [violation.field for violation in bad_request.field_violations]
    return []


async def rows(segmentation: Segmentation) -> tuple[int, ...]:
    counts = []
    for table in (
        "segmentation_pingou.users",
        "segmentation_mall.users",
        "segmentation_identity.identity_links",
        "segmentation_pingou.segments",
        "segmentation_pingou.outbox",
    ):
        counts.append(await segmentation.count(f"SELECT count(*) FROM {table}"))  # noqa: S608  -- fixed table names
    return tuple(counts)


Case = Callable[[Segmentation, list[tuple[str, str]]], Awaitable[object]]
LONG = "x" * 300

CASES: dict[str, tuple[Case, list[str], str]] = {
    "register without city or channel": (
        lambda s, md: s.stub.RegisterUser(pb.RegisterUserRequest(), metadata=md),
        ["city", "channel"],
        "INVALID_ARGUMENT",
    ),
    "register with a city name too long": (
        lambda s, md: s.stub.RegisterUser(pb.RegisterUserRequest(city=LONG, channel=pb.CHANNEL_H5), metadata=md),
        ["city"],
        "INVALID_ARGUMENT",
    ),
    "register with an unknown channel": (
        lambda s, md: s.stub.RegisterUser(pb.RegisterUserRequest(city="郑州", channel=42), metadata=md),  # type: ignore[arg-type]  # a value no enum has
        ["channel"],
        "INVALID_ARGUMENT",
    ),
    "register with a malformed phone": (
        lambda s, md: s.stub.RegisterUser(
            pb.RegisterUserRequest(
                city="郑州",
                channel=pb.CHANNEL_H5,
                identities=[pb.ExternalIdentity(kind=pb.IDENTITY_KIND_PHONE, value="12345")],
            ),
            metadata=md,
        ),
        ["identity.value"],
        "INVALID_IDENTITY",
    ),
    "register with an identity of no kind": (
        lambda s, md: s.stub.RegisterUser(
            pb.RegisterUserRequest(city="郑州", channel=pb.CHANNEL_H5, identities=[pb.ExternalIdentity(value="abc")]),
            metadata=md,
        ),
        ["identities[0].kind"],
        "INVALID_ARGUMENT",
    ),
    "get with an empty id": (
        lambda s, md: s.stub.GetUser(pb.GetUserRequest(user_id=""), metadata=md),
        ["user_id"],
        "INVALID_ARGUMENT",
    ),
    "get with a malformed id": (
        lambda s, md: s.stub.GetUser(pb.GetUserRequest(user_id="pu_abc"), metadata=md),
        ["user_id"],
        "INVALID_ARGUMENT",
    ),
    "update with nothing to change": (
        lambda s, md: s.stub.UpdateProfile(pb.UpdateProfileRequest(user_id="pu_1000001"), metadata=md),
        ["city"],
        "INVALID_ARGUMENT",
    ),
    "update with a city too long": (
        lambda s, md: s.stub.UpdateProfile(pb.UpdateProfileRequest(user_id="pu_1000001", city=LONG), metadata=md),
        ["city"],
        "INVALID_ARGUMENT",
    ),
    "link an over-long unionid": (
        lambda s, md: s.stub.LinkIdentity(
            pb.LinkIdentityRequest(
                user_id="pu_1000001", identity=pb.ExternalIdentity(kind=pb.IDENTITY_KIND_WECHAT_UNIONID, value=LONG)
            ),
            metadata=md,
        ),
        ["identity.value"],
        "INVALID_ARGUMENT",
    ),
    "new-to-company with an empty id": (
        lambda s, md: s.stub.IsNewToCompany(pb.IsNewToCompanyRequest(), metadata=md),
        ["user_id"],
        "INVALID_ARGUMENT",
    ),
    "define a segment with no line": (
        lambda s, md: s.stub.DefineSegment(pb.DefineSegmentRequest(segment_id="abc"), metadata=md),
        ["line"],
        "INVALID_ARGUMENT",
    ),
    "define a segment with a bad id, description and tier range": (
        lambda s, md: s.stub.DefineSegment(
            pb.DefineSegmentRequest(
                line=PINGOU, segment_id="Bad Id!", description=LONG, rule=pb.SegmentRule(min_tier=5, max_tier=9)
            ),
            metadata=md,
        ),
        ["description"],
        "INVALID_ARGUMENT",
    ),
    "define a segment with an inverted tier range": (
        lambda s, md: s.stub.DefineSegment(
            pb.DefineSegmentRequest(line=PINGOU, segment_id="bad-range", rule=pb.SegmentRule(min_tier=5, max_tier=2)),
            metadata=md,
        ),
        ["rule.max_tier"],
        "INVALID_SEGMENT",
    ),
    "define a segment with an unknown channel": (
        lambda s, md: s.stub.DefineSegment(
            pb.DefineSegmentRequest(
                line=PINGOU,
                segment_id="bad-channel",
                rule=pb.SegmentRule(channels=[9]),  # type: ignore[list-item]  # a value no channel has
            ),
            metadata=md,
        ),
        ["rule.channels[0]"],
        "INVALID_ARGUMENT",
    ),
    "list with a page size too large": (
        lambda s, md: s.stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(line=PINGOU, segment_id="everyone", page_size=100_000), metadata=md
        ),
        ["page_size"],
        "INVALID_ARGUMENT",
    ),
    "list with a forged page token": (
        lambda s, md: s.stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(line=PINGOU, segment_id="everyone", page_token="not-a-token"), metadata=md
        ),
        ["page_token"],
        "INVALID_PAGE_TOKEN",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    segmentation: Segmentation, case: str
) -> None:
    await segmentation.stub.DefineSegment(
        pb.DefineSegmentRequest(line=PINGOU, segment_id="everyone", rule=pb.SegmentRule()),
        metadata=segmentation.token(BusinessLine.PINGOU, Role.OPERATOR),
    )
    call, fields, reason = CASES[case]
    before = await rows(segmentation)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(segmentation, segmentation.token(BusinessLine.PINGOU, Role.OPERATOR))
    assert status_of(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert set(fields) <= set(fields_of(caught.value))
    assert await rows(segmentation) == before


async def test_a_page_token_of_another_segment_is_refused(segmentation: Segmentation) -> None:
    operator = segmentation.token(BusinessLine.PINGOU, Role.OPERATOR)
    for name in ("first-list", "second-list"):
        await segmentation.stub.DefineSegment(
            pb.DefineSegmentRequest(line=PINGOU, segment_id=name, rule=pb.SegmentRule()), metadata=operator
        )
    for _ in range(3):
        await segmentation.register(BusinessLine.PINGOU)
    page = await segmentation.stub.ListSegmentMembers(
        pb.ListSegmentMembersRequest(line=PINGOU, segment_id="first-list", page_size=1), metadata=operator
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(line=PINGOU, segment_id="second-list", page_token=page.next_page_token),
            metadata=operator,
        )
    assert status_of(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_an_unknown_city_is_accepted_as_tier_6_and_counted(segmentation: Segmentation) -> None:
    labels = {"line": "pingou"}
    before = REGISTRY.get_sample_value("segmentation_unknown_cities_total", labels) or 0.0
    user = await segmentation.register(BusinessLine.PINGOU, city="Atlantis")
    assert (user.city, user.city_tier, user.city_known) == ("Atlantis", 6, False)
    assert REGISTRY.get_sample_value("segmentation_unknown_cities_total", labels) == before + 1
    known = await segmentation.register(BusinessLine.PINGOU, city="临沂市")
    assert (known.city, known.city_tier, known.city_known) == ("临沂", 2, True)  # 二线 in the ranking


async def test_missing_users_and_segments_are_not_found(segmentation: Segmentation) -> None:
    service = segmentation.token(BusinessLine.PINGOU, Role.OPERATOR)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.stub.GetUser(pb.GetUserRequest(user_id="pu_999999999"), metadata=service)
    assert status_of(caught.value) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(line=PINGOU, segment_id="no-such-segment"), metadata=service
        )
    assert status_of(caught.value) == (grpc.StatusCode.NOT_FOUND, "SEGMENT_NOT_FOUND")


async def test_one_account_per_person_and_line(segmentation: Segmentation) -> None:
    await segmentation.register(BusinessLine.PINGOU, phone="13812345678")
    before = await rows(segmentation)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.register(BusinessLine.PINGOU, phone="138-1234-5678")
    assert status_of(caught.value) == (grpc.StatusCode.ALREADY_EXISTS, "IDENTITY_ALREADY_REGISTERED")
    assert await rows(segmentation) == before  # the half-made account was rolled back with the refusal
    other_line = await segmentation.register(BusinessLine.MALL, phone="13812345678")
    assert other_line.user_id.startswith("mu_")
