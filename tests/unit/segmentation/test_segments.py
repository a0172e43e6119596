"""Segments over a fake unit of work: versioned definitions, a concurrent redefinition refused, a user's
segments, and member listings whose pages keep the version they started with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.order.v1 import events_pb2 as order_events

from libs.convert import timestamp
from libs.core import Aborted, BusinessLine, InvalidArgument, NotFound
from libs.core.cities import CityTiers
from libs.core.paging import PageTokens
from services.segmentation.domain.model import Channel, SegmentRule
from services.segmentation.entrypoints.consumers import EFFECTS
from services.segmentation.service_layer import segments, users
from tests.unit.segmentation.fakes import FakeUnitOfWork

TOKENS = PageTokens([b"k" * 32], service="segmentation")
CITIES = CityTiers.load()
TIER_ONE = SegmentRule(max_tier=1)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.PINGOU)


async def define(uow: FakeUnitOfWork, segment_id: str = "tier-one", rule: SegmentRule = TIER_ONE) -> int:
    async with uow:
        segment = await segments.define_segment(
            uow, segment_id=segment_id, description="一线城市", rule=rule, created_by="analyst-1"
        )
    return segment.version


async def register(uow: FakeUnitOfWork, city: str) -> str:
    async with uow:
        user = await users.register_user(
            uow, cities=CITIES, salt=b"0123456789abcdef", city=city, channel=Channel.PINGOU_APP, identities=[]
        )
    return user.user_id


async def members(uow: FakeUnitOfWork, segment_id: str, page_size: int, token: str = "") -> tuple[list[str], str, int]:
    async with uow:
        page, next_token, version = await segments.list_members(
            uow, segment_id=segment_id, page_size=page_size, page_token=token, tokens=TOKENS
        )
    return [user.user_id for user in page], next_token, version


async def test_each_definition_of_a_segment_is_a_new_version(uow: FakeUnitOfWork) -> None:
    assert await define(uow) == 1
    assert await define(uow, rule=SegmentRule(max_tier=2)) == 2
    async with uow:
        latest = await segments.get_segment(uow, "tier-one")
        first = await segments.get_segment(uow, "tier-one", version=1)
    assert (latest.version, latest.rule, first.rule) == (2, SegmentRule(max_tier=2), TIER_ONE)


async def test_an_invalid_segment_is_refused_before_anything_is_written(uow: FakeUnitOfWork) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await define(uow, "Tier One!", SegmentRule(min_tier=3, max_tier=2))
    assert caught.value.reason == "INVALID_SEGMENT"
    assert {v.field for v in caught.value.violations} == {"segment_id", "rule.max_tier"}
    assert uow.tables.segments == {}


async def test_a_concurrent_redefinition_is_aborted_for_a_retry(uow: FakeUnitOfWork) -> None:
    await define(uow)
    uow.repository.racing_definitions = 1
    with pytest.raises(Aborted) as caught:
        await define(uow, rule=SegmentRule(max_tier=2))
    assert caught.value.reason == "SEGMENT_VERSION_CONFLICT"
    assert await define(uow, rule=SegmentRule(max_tier=2)) == 2  # the retry gets the next version


async def test_an_unknown_segment_or_version_is_not_found(uow: FakeUnitOfWork) -> None:
    await define(uow)
    for version in (None, 2):
        with pytest.raises(NotFound) as caught:
            async with uow:
                await segments.get_segment(uow, "tier-one" if version else "nobody", version=version)
        assert caught.value.reason == "SEGMENT_NOT_FOUND"


async def test_the_list_of_segments_shows_the_latest_version_of_each(uow: FakeUnitOfWork) -> None:
    await define(uow, "tier-one")
    await define(uow, "tier-one", SegmentRule(max_tier=2))
    await define(uow, "big-spenders", SegmentRule(min_orders=10))
    async with uow:
        listed = await segments.list_segments(uow)
    assert [(s.segment_id, s.version) for s in listed] == [("big-spenders", 1), ("tier-one", 2)]


async def test_a_users_segments_are_those_whose_latest_rule_holds(uow: FakeUnitOfWork) -> None:
    beijing, heze = await register(uow, "北京"), await register(uow, "菏泽")
    await define(uow, "tier-one", TIER_ONE)
    await define(uow, "anyone", SegmentRule())
    async with uow:
        of_beijing = await segments.segments_of_user(uow, beijing)
        of_heze = await segments.segments_of_user(uow, heze)
    assert [s.segment_id for s in of_beijing] == ["anyone", "tier-one"]
    assert [s.segment_id for s in of_heze] == ["anyone"]

    with pytest.raises(NotFound) as caught:
        async with uow:
            await segments.segments_of_user(uow, "pu_1999999")
    assert caught.value.reason == "USER_NOT_FOUND"


async def test_members_are_listed_in_pages_in_registration_order(uow: FakeUnitOfWork) -> None:
    joined = [await register(uow, city) for city in ("北京", "菏泽", "上海", "深圳", "广州")]
    await define(uow)

    first, token, version = await members(uow, "tier-one", 2)
    second, last_token, _ = await members(uow, "tier-one", 2, token)
    assert (first, second, last_token, version) == ([joined[0], joined[2]], [joined[3], joined[4]], "", 1)


async def test_a_listing_keeps_the_version_it_started_with(uow: FakeUnitOfWork) -> None:
    joined = [await register(uow, city) for city in ("北京", "菏泽", "上海", "杭州")]
    await define(uow)
    first, token, _ = await members(uow, "tier-one", 1)
    await define(uow, rule=SegmentRule(min_tier=2))  # redefined while the listing goes on

    rest, _, version = await members(uow, "tier-one", 10, token)
    assert (first, rest, version) == ([joined[0]], [joined[2]], 1)
    assert (await members(uow, "tier-one", 10))[0] == [joined[1], joined[3]]  # a new listing: the new rule


async def test_a_page_token_of_another_segment_is_refused(uow: FakeUnitOfWork) -> None:
    for city in ("北京", "上海"):
        await register(uow, city)
    await define(uow, "tier-one")
    await define(uow, "anyone", SegmentRule())
    _, token, _ = await members(uow, "tier-one", 1)
    with pytest.raises(InvalidArgument) as caught:
        await members(uow, "anyone", 1, token)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"


# --- profiles from events (what each event changes; the consumer's handler is not over a unit of work)


async def test_events_build_the_profile_a_segment_reads(uow: FakeUnitOfWork) -> None:
    user_id = await register(uow, "北京")
    await define(uow, "plus-buyers", SegmentRule(plus_member=True, min_orders=1))
    paid_at, plus_until = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=30)
    news = [
        order_events.OrderPaid(user_id=user_id, amount_minor=9900, paid_at=timestamp(paid_at)),
        membership_events.MembershipPurchased(user_id=user_id, expires_at=timestamp(plus_until)),
        order_events.OrderRefunded(user_id=user_id, amount_minor=900),
    ]
    async with uow:
        for event in news:
            user_of, apply = EFFECTS[type(event)]
            assert user_of(event) == user_id
            assert await apply(uow.users, event)
        found = await segments.segments_of_user(uow, user_id)

    profile = uow.tables.users[user_id][1].profile
    assert (profile.order_count, profile.spend_minor, profile.first_order_at, profile.plus_until) == (
        1,
        9000,
        paid_at,
        plus_until,
    )
    assert [s.segment_id for s in found] == ["plus-buyers"]


async def test_an_event_about_a_user_the_line_does_not_hold_is_not_applied(uow: FakeUnitOfWork) -> None:
    event = order_events.OrderPaid(user_id="pu_1999999", amount_minor=100, paid_at=timestamp(datetime.now(UTC)))
    _, apply = EFFECTS[order_events.OrderPaid]
    async with uow:
        assert not await apply(uow.users, event)
