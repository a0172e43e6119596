"""Segments: versioned rules over profiles, evaluated for one user and listed a page at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.common.v1 import common_pb2
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.order.v1 import events_pb2 as order_events
from pingou.segmentation.v1 import segmentation_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.segmentation.conftest import Segmentation, status_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra
MALL = common_pb2.BUSINESS_LINE_MALL


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def define(segmentation: Segmentation, segment_id: str, **rule: Any) -> pb.Segment:
    segment: pb.Segment = await segmentation.stub.DefineSegment(
        pb.DefineSegmentRequest(line=MALL, segment_id=segment_id, description="test", rule=pb.SegmentRule(**rule)),
        metadata=segmentation.token(BusinessLine.MALL, Role.OPERATOR),
    )
    return segment


async def segments_of(segmentation: Segmentation, user_id: str) -> set[str]:
    reply = await segmentation.stub.GetSegments(
        pb.GetSegmentsRequest(user_id=user_id), metadata=segmentation.token(BusinessLine.MALL, Role.SERVICE)
    )
    return {membership.segment_id for membership in reply.segments}


async def members(segmentation: Segmentation, segment_id: str, page_size: int) -> list[list[str]]:
    pages, token = [], ""
    while True:
        reply = await segmentation.stub.ListSegmentMembers(
            pb.ListSegmentMembersRequest(line=MALL, segment_id=segment_id, page_size=page_size, page_token=token),
            metadata=segmentation.token(BusinessLine.MALL, Role.ANALYTICS),
        )
        pages.append([user.user_id for user in reply.users])
        token = reply.next_page_token
        if not token:
            return pages


async def test_rules_select_by_tier_channel_orders_plus_newness_and_dormancy(segmentation: Segmentation) -> None:
    tag = uuid.uuid4().hex[:6]
    shanghai = await segmentation.register(BusinessLine.MALL, city="上海", channel=pb.CHANNEL_MALL_APP)
    heze = await segmentation.register(BusinessLine.MALL, city="菏泽", channel=pb.CHANNEL_WECHAT_MINI_PROGRAM)
    county = await segmentation.register(BusinessLine.MALL, city="曹县", channel=pb.CHANNEL_H5)
    now = datetime.now(UTC)
    await segmentation.publish(
        BusinessLine.MALL,
        "order",
        [
            (
                f"o-{tag}",
                order_events.OrderPaid(
                    order_id=f"o-{tag}",
                    user_id=shanghai.user_id,
                    amount_minor=500,
                    paid_at=stamp(now - timedelta(days=200)),
                ),
                None,
            )
        ],
    )
    await segmentation.publish(
        BusinessLine.MALL,
        "membership",
        [
            (
                heze.user_id,
                membership_events.MembershipPurchased(user_id=heze.user_id, expires_at=stamp(now + timedelta(days=30))),
                None,
            )
        ],
    )

    async def profiles_built() -> bool:
        return (await segmentation.get(shanghai.user_id)).profile.order_count == 1 and (
            await segmentation.get(heze.user_id)
        ).profile.plus_member

    await eventually(profiles_built)
    # The Shanghai buyer's last activity was 200 days ago; the others registered just now.
    await define(segmentation, f"lower-tier-no-order-{tag}", min_tier=3, max_tier=6, max_orders=0)
    await define(segmentation, f"mini-program-{tag}", channels=[pb.CHANNEL_WECHAT_MINI_PROGRAM])
    await define(segmentation, f"plus-{tag}", plus_member=True)
    await define(segmentation, f"new-to-company-{tag}", new_to_company=True)
    await define(segmentation, f"dormant-90-{tag}", dormant_days=90)
    await define(segmentation, f"buyers-{tag}", min_orders=1)

    def mine(found: set[str]) -> set[str]:
        return {name.removesuffix(f"-{tag}") for name in found if name.endswith(tag)}

    assert mine(await segments_of(segmentation, shanghai.user_id)) == {"dormant-90", "buyers"}
    assert mine(await segments_of(segmentation, heze.user_id)) == {
        "lower-tier-no-order",
        "mini-program",
        "plus",
        "new-to-company",
    }
    assert mine(await segments_of(segmentation, county.user_id)) == {"lower-tier-no-order", "new-to-company"}
    assert (await segmentation.get(county.user_id)).city_tier == 6


async def test_redefining_a_segment_adds_a_version_and_answers_use_the_latest(segmentation: Segmentation) -> None:
    segment_id = f"tier-band-{uuid.uuid4().hex[:6]}"
    user = await segmentation.register(BusinessLine.MALL, city="成都")  # tier 2
    first = await define(segmentation, segment_id, min_tier=1, max_tier=2)
    assert segment_id in await segments_of(segmentation, user.user_id)
    second = await define(segmentation, segment_id, min_tier=3, max_tier=6)
    assert (first.version, second.version) == (1, 2)
    assert segment_id not in await segments_of(segmentation, user.user_id)
    latest = await segmentation.stub.GetSegment(
        pb.GetSegmentRequest(line=MALL, segment_id=segment_id),
        metadata=segmentation.token(BusinessLine.MALL, Role.OPERATOR),
    )
    assert (latest.version, latest.rule.min_tier, latest.rule.max_tier) == (2, 3, 6)


async def test_the_segments_of_a_line_are_listed_at_their_latest_version(segmentation: Segmentation) -> None:
    first, second = f"list-a-{uuid.uuid4().hex[:6]}", f"list-b-{uuid.uuid4().hex[:6]}"
    await define(segmentation, first, min_tier=1, max_tier=2)
    await define(segmentation, first, min_tier=3, max_tier=6)
    await define(segmentation, second, plus_member=True)
    listed = await segmentation.stub.ListSegments(
        pb.ListSegmentsRequest(line=MALL), metadata=segmentation.token(BusinessLine.MALL, Role.OPERATOR)
    )
    ids = [segment.segment_id for segment in listed.segments]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    by_id = {segment.segment_id: segment for segment in listed.segments}
    assert (by_id[first].version, by_id[first].rule.min_tier, by_id[second].version) == (2, 3, 1)
    pingou = await segmentation.stub.ListSegments(  # the other line's segments are its own
        pb.ListSegmentsRequest(line=common_pb2.BUSINESS_LINE_PINGOU),
        metadata=segmentation.token(BusinessLine.PINGOU, Role.OPERATOR),
    )
    assert not {first, second} & {segment.segment_id for segment in pingou.segments}


async def test_concurrent_redefinitions_get_distinct_versions_or_abort(segmentation: Segmentation) -> None:
    import asyncio

    segment_id = f"race-{uuid.uuid4().hex[:6]}"
    results = await asyncio.gather(
        *(define(segmentation, segment_id, min_orders=n) for n in range(8)), return_exceptions=True
    )
    versions = [r.version for r in results if isinstance(r, pb.Segment)]
    refused = [r for r in results if not isinstance(r, pb.Segment)]
    assert len(versions) == len(set(versions))
    assert all(
        isinstance(r, grpc.aio.AioRpcError) and status_of(r) == (grpc.StatusCode.ABORTED, "SEGMENT_VERSION_CONFLICT")
        for r in refused
    )
    assert sorted(versions) == list(range(1, len(versions) + 1))


async def test_members_are_listed_once_each_across_pages_in_registration_order(segmentation: Segmentation) -> None:
    city = "三门峡"  # the tag: this test's users are the only ones in this city
    registered = [(await segmentation.register(BusinessLine.MALL, city=city)).user_id for _ in range(23)]
    tier = (await segmentation.get(registered[0])).city_tier
    segment_id = f"smx-{uuid.uuid4().hex[:6]}"
    await define(segmentation, segment_id, min_tier=tier, max_tier=tier, channels=[pb.CHANNEL_WECHAT_MINI_PROGRAM])
    pages = await members(segmentation, segment_id, page_size=5)
    listed = [user_id for page in pages for user_id in page]
    mine = [user_id for user_id in listed if user_id in set(registered)]
    assert mine == registered
    assert len(listed) == len(set(listed))
    assert all(len(page) <= 5 for page in pages)


async def test_a_listing_keeps_its_segment_version_when_the_segment_is_redefined_midway(
    segmentation: Segmentation,
) -> None:
    for _ in range(4):
        await segmentation.register(BusinessLine.MALL, city="拉萨")
    segment_id = f"stable-{uuid.uuid4().hex[:6]}"
    await define(segmentation, segment_id)  # everyone
    first = await segmentation.stub.ListSegmentMembers(
        pb.ListSegmentMembersRequest(line=MALL, segment_id=segment_id, page_size=2),
        metadata=segmentation.token(BusinessLine.MALL, Role.ANALYTICS),
    )
    await define(segmentation, segment_id, min_orders=1000)  # nobody
    second = await segmentation.stub.ListSegmentMembers(
        pb.ListSegmentMembersRequest(line=MALL, segment_id=segment_id, page_size=2, page_token=first.next_page_token),
        metadata=segmentation.token(BusinessLine.MALL, Role.ANALYTICS),
    )
    assert (first.segment_version, second.segment_version) == (1, 1)
    assert len(second.users) == 2


async def test_segment_rows_are_per_line(segmentation: Segmentation) -> None:
    segment_id = f"only-mall-{uuid.uuid4().hex[:6]}"
    await define(segmentation, segment_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await segmentation.stub.GetSegment(
            pb.GetSegmentRequest(line=common_pb2.BUSINESS_LINE_PINGOU, segment_id=segment_id),
            metadata=segmentation.token(BusinessLine.PINGOU, Role.OPERATOR),
        )
    assert status_of(caught.value) == (grpc.StatusCode.NOT_FOUND, "SEGMENT_NOT_FOUND")
    connection = await asyncpg.connect(segmentation.database_url)
    try:
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM segmentation_pingou.segments WHERE segment_id = $1", segment_id
            )
            == 0
        )
    finally:
        await connection.close()
