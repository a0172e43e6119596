"""The KPIs of a published stream of both lines equal the figures worked out by hand (stream.py), by hour,
minute and day, and stay exactly those when the whole stream is delivered again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from pingou.analytics.v1 import analytics_pb2 as pb

from libs.core import BusinessLine
from tests.integration.analytics.conftest import Event, Platform
from tests.integration.analytics.stream import (
    APPLIED,
    DAY,
    MALL_BY_HOUR,
    MALL_TOTAL,
    NOON,
    PINGOU_BY_HOUR,
    PINGOU_FIRST_MINUTES,
    PINGOU_FIRST_MINUTES_TOTAL,
    PINGOU_TOTAL,
    TEN,
    People,
    as_dict,
    by_bucket,
    expected_buckets,
    rounded,
    the_day,
)

pytestmark = pytest.mark.infra
PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL


@dataclass(frozen=True)
class PublishedDay:
    platform: Platform
    events: list[Event]


@pytest.fixture(scope="module")
async def published(analytics: Platform) -> PublishedDay:
    """The hand-made day, published once and applied (every record committed, every link looked up)."""
    people = People(
        p1=await analytics.register(PINGOU, phone="13800000001"),
        p2=await analytics.register(PINGOU, phone="13800000002"),
        p3=await analytics.register(PINGOU),
        p4=await analytics.register(PINGOU, phone="13800000003"),
        m1=await analytics.register(MALL, phone="13800000001"),
        m2=await analytics.register(MALL, phone="13800000003"),
        m3=await analytics.register(MALL),
    )
    events = the_day(people)
    await analytics.publish(events)
    await analytics.caught_up()
    return PublishedDay(analytics, events)


@pytest.fixture
def day(published: PublishedDay) -> Platform:
    return published.platform


async def check_the_day(platform: Platform) -> None:
    pingou = await platform.kpis(PINGOU, pb.GRANULARITY_HOUR, TEN, NOON)
    assert as_dict(pingou.total) == rounded(PINGOU_TOTAL)
    assert by_bucket(pingou) == expected_buckets(PINGOU_BY_HOUR)
    mall = await platform.kpis(MALL, pb.GRANULARITY_HOUR, TEN, NOON)
    assert as_dict(mall.total) == rounded(MALL_TOTAL)
    assert by_bucket(mall) == expected_buckets(MALL_BY_HOUR)


async def test_the_kpis_of_each_line_by_hour_are_the_hand_computed_ones(day: Platform) -> None:
    await check_the_day(day)


async def test_distinct_users_are_distinct_over_the_window_not_summed_over_minutes(day: Platform) -> None:
    report = await day.kpis(PINGOU, pb.GRANULARITY_MINUTE, TEN, TEN + timedelta(minutes=2))
    assert by_bucket(report) == expected_buckets(PINGOU_FIRST_MINUTES)
    assert as_dict(report.total) == rounded(PINGOU_FIRST_MINUTES_TOTAL)
    assert sum(bucket.kpis.paying_users for bucket in report.buckets) == 3  # P1 paid in both minutes
    assert report.total.paying_users == 2


async def test_a_day_bucket_is_the_beijing_day(day: Platform) -> None:
    report = await day.kpis(PINGOU, pb.GRANULARITY_DAY, DAY, DAY + timedelta(days=1))
    assert [bucket.start.ToDatetime() for bucket in report.buckets] == [DAY.replace(tzinfo=None) - timedelta(hours=8)]
    assert as_dict(report.buckets[0].kpis) == as_dict(report.total) == rounded(PINGOU_TOTAL)
    # The UTC day of 2026-06-18 starts at 08:00 Beijing time, and holds it all: a Beijing day is not a UTC day.
    before = await day.kpis(PINGOU, pb.GRANULARITY_DAY, DAY - timedelta(days=1), DAY)
    assert (list(before.buckets), before.total.orders) == ([], 0)


async def test_repeated_outcomes_are_not_counted_again(day: Platform) -> None:
    report = await day.kpis(PINGOU, pb.GRANULARITY_HOUR, TEN, NOON)
    # The stream announces g1's completion and g2's failure twice each (the repeats marked reannounced).
    assert (report.total.groups_completed, report.total.groups_failed) == (2, 1)
    assert report.total.mean_completion_seconds == 100.0


async def test_the_consumer_status_covers_every_partition_of_the_line(day: Platform) -> None:
    for line, aggregates in ((PINGOU, {"order", "membership", "user", "groupbuy"}), (MALL, {"order", "membership",
                                                                                          "user"})):  # fmt: skip
        status = await day.status(line)
        expected = {(f"{day.prefix}{line.value}.{aggregate}.v1", partition) for aggregate in aggregates
                    for partition in range(3)}  # fmt: skip
        assert {(partition.topic, partition.partition) for partition in status.partitions} == expected
        assert all(partition.lag == 0 for partition in status.partitions)
        assert status.events_applied == APPLIED[line]
        assert status.HasField("last_applied_at")


async def test_the_whole_stream_delivered_twice_counts_once(published: PublishedDay) -> None:
    day = published.platform
    applied = {line: (await day.status(line)).events_applied for line in BusinessLine}
    # Every event once more, as a relay re-sends what a crash left unacknowledged: the same event ids.
    await day.publish(published.events)
    await day.caught_up()

    await check_the_day(day)
    assert {line: (await day.status(line)).events_applied for line in BusinessLine} == applied == APPLIED
    for line in BusinessLine:
        inbox = await day.count(f"SELECT count(*) FROM analytics_{line.value}.inbox")  # noqa: S608  -- a fixed schema
        assert inbox == APPLIED[line]
