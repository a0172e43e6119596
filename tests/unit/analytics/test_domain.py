"""Analytics' rules without infrastructure: report windows and their Beijing-time buckets, the shares, and
which events add a fact (over a fake of the facts port)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.core import BusinessLine, InvalidArgument
from services.analytics.domain.facts import GroupOutcome, LinksChanged, Payment, SeatTaken
from services.analytics.domain.model import (
    MAX_BUCKETS,
    SHANGHAI,
    Channel,
    Granularity,
    Kpis,
    Window,
    bucket_start,
    report_window,
)
from services.analytics.service_layer import facts, kpis

PINGOU = BusinessLine.PINGOU
NOON_UTC = datetime(2026, 6, 18, 4, 0, tzinfo=UTC)  # 12:00 in Beijing


def refused_field(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [violation.field for violation in error.value.violations]


def test_a_beijing_day_starts_at_16_00_utc_the_day_before() -> None:
    late_evening_utc = datetime(2026, 6, 18, 17, 30, tzinfo=UTC)  # 01:30 on the 19th in Beijing
    assert bucket_start(late_evening_utc, Granularity.DAY) == datetime(2026, 6, 19, tzinfo=SHANGHAI)
    assert bucket_start(late_evening_utc, Granularity.DAY).astimezone(UTC) == datetime(2026, 6, 18, 16, tzinfo=UTC)
    assert bucket_start(late_evening_utc, Granularity.HOUR) == datetime(2026, 6, 18, 17, tzinfo=UTC)


def test_an_unset_window_is_today_in_beijing_until_now() -> None:
    window = report_window(Granularity.HOUR, start=None, end=None, now=NOON_UTC)
    assert (window.start, window.end) == (datetime(2026, 6, 18, tzinfo=SHANGHAI), NOON_UTC)
    assert len(window.bucket_starts()) == 12


def test_a_window_must_not_be_empty() -> None:
    for end in (NOON_UTC, NOON_UTC - timedelta(seconds=1)):
        with pytest.raises(InvalidArgument) as caught:
            report_window(Granularity.MINUTE, start=NOON_UTC, end=end, now=NOON_UTC)
        assert refused_field(caught) == ["from"]


def test_a_window_holds_at_most_a_day_of_minutes_counting_the_bucket_from_starts_in() -> None:
    exact = report_window(Granularity.MINUTE, start=NOON_UTC, end=NOON_UTC + timedelta(days=1), now=NOON_UTC)
    assert len(exact.bucket_starts()) == MAX_BUCKETS
    off_the_minute = NOON_UTC + timedelta(seconds=30)  # its minute began before it: one bucket more
    with pytest.raises(InvalidArgument) as caught:
        report_window(Granularity.MINUTE, start=off_the_minute, end=off_the_minute + timedelta(days=1), now=NOON_UTC)
    assert refused_field(caught) == ["to"]
    with pytest.raises(InvalidArgument):
        report_window(Granularity.DAY, start=NOON_UTC, end=NOON_UTC + timedelta(days=MAX_BUCKETS), now=NOON_UTC)
    days = report_window(Granularity.DAY, start=NOON_UTC, end=NOON_UTC + timedelta(days=3), now=NOON_UTC)
    assert len(days.bucket_starts()) == 4


def test_a_window_is_widened_to_whole_buckets() -> None:
    ten_twenty = datetime(2026, 6, 18, 10, 20, tzinfo=SHANGHAI)
    eleven_o_five = datetime(2026, 6, 18, 11, 5, tzinfo=SHANGHAI)
    window = report_window(Granularity.HOUR, start=ten_twenty, end=eleven_o_five, now=NOON_UTC)
    assert (window.start, window.end) == (ten_twenty.replace(minute=0), eleven_o_five.replace(hour=12, minute=0))
    assert window.bucket_starts() == [ten_twenty.replace(minute=0), ten_twenty.replace(hour=11, minute=0)]


def test_distinct_users_of_a_window_come_from_the_coarsest_level_that_tiles_it() -> None:
    day = datetime(2026, 6, 18, tzinfo=SHANGHAI)
    cases = [
        (Window(day, day + timedelta(days=1), Granularity.HOUR), (Granularity.DAY, True)),
        (Window(day, day + timedelta(days=2), Granularity.DAY), (Granularity.DAY, False)),
        (Window(day + timedelta(hours=10), day + timedelta(hours=12), Granularity.MINUTE), (Granularity.HOUR, False)),
        (Window(day + timedelta(hours=10), day + timedelta(hours=11), Granularity.MINUTE), (Granularity.HOUR, True)),
        (Window(day, day + timedelta(minutes=2), Granularity.MINUTE), (Granularity.MINUTE, False)),
    ]
    for window, covering in cases:
        assert window.covering() == covering, window


def test_a_window_adds_up_its_buckets_counts_but_not_their_distinct_users() -> None:
    total = Kpis(ordering_users=2, paying_users=2)
    for bucket in (
        Kpis(orders=2, ordering_users=2, paying_users=1, orders_by_channel={Channel.H5: 2}, completion_seconds=95.0,
             timed_completions=1, groups_completed=1),
        Kpis(orders=1, ordering_users=1, paying_users=2, orders_by_channel={Channel.H5: 1, Channel.MALL_APP: 0},
             completion_seconds=105.0, timed_completions=1, groups_completed=1, new_to_company_users=1),
    ):  # fmt: skip
        total.add(bucket)
    assert (total.orders, total.ordering_users, total.paying_users, total.new_to_company_users) == (3, 2, 2, 1)
    assert total.orders_by_channel == {Channel.H5: 3, Channel.MALL_APP: 0}
    assert (total.groups_completed, total.mean_completion_seconds) == (2, 100.0)


def test_shares_are_of_orders_and_of_ordering_users_and_zero_without_any() -> None:
    assert (Kpis().mini_program_share, Kpis().tier3_to_6_share) == (0.0, 0.0)
    some = Kpis(orders=4, orders_by_channel={Channel.WECHAT_MINI_PROGRAM: 3, Channel.H5: 1}, ordering_users=5,
                ordering_users_lower_tiers=2)  # fmt: skip
    assert (some.mini_program_share, some.tier3_to_6_share) == (0.75, 0.4)


class FakeFacts:
    """Records what each write of the facts port was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[object]]] = []

    def __getattr__(self, name: str) -> object:
        async def write(rows: list[object]) -> None:
            self.calls.append((name, list(rows)))

        return write


AT = datetime(2026, 6, 18, 2, tzinfo=UTC)


async def test_a_batch_is_written_kind_by_kind_without_repeated_outcomes_or_seats_without_an_invite() -> None:
    fake = FakeFacts()
    repeat = GroupOutcome("g1", completed=True, decided_at=AT, opened_at=AT, reannounced=True)
    first = GroupOutcome("g1", completed=True, decided_at=AT, opened_at=AT, reannounced=False)
    alone = SeatTaken("s1", "g1", "pu_1", None, AT)
    invited = SeatTaken("s2", "g1", "pu_2", "pu_1", AT)
    paid, paid_again = Payment("po_1", "pu_1", AT, 990), Payment("po_2", "pu_1", AT, 10)
    await facts.record(fake, [repeat, paid, first, alone, invited, paid_again, LinksChanged("pu_3")], line=PINGOU)  # type: ignore[arg-type]  # a fake of the port
    assert fake.calls == [
        ("add_payments", [paid, paid_again]),
        ("add_group_outcomes", [first]),
        ("add_invites", [invited]),
        ("want_link_lookups", ["pu_3"]),
    ]


async def test_a_batch_with_only_repeats_writes_nothing() -> None:
    fake = FakeFacts()
    repeat = GroupOutcome("g1", completed=False, decided_at=AT, opened_at=None, reannounced=True)
    await facts.record(fake, [repeat, SeatTaken("s1", "g1", "pu_1", None, AT)], line=PINGOU)  # type: ignore[arg-type]  # a fake of the port
    assert fake.calls == []


@pytest.mark.parametrize(
    "fact",
    [
        Payment("po_1", "mu_1", AT, 990),  # a mall buyer on the pingou topic
        SeatTaken("s1", "g1", "pu_1", "mu_7", AT),  # an inviter of the other line
        LinksChanged("not-a-user"),
    ],
)
async def test_a_batch_with_an_account_of_the_other_line_or_none_adds_nothing(fact: object) -> None:
    fake = FakeFacts()
    with pytest.raises(InvalidArgument):
        await facts.record(fake, [Payment("po_2", "pu_2", AT, 990), fact], line=PINGOU)  # type: ignore[arg-type, list-item]  # a fake of the port; the facts above
    assert fake.calls == []


class FakeSource:
    def __init__(self, buckets: dict[datetime, Kpis]):
        self.buckets = buckets

    async def kpis(self, window: Window) -> tuple[dict[datetime, Kpis], Kpis]:
        return self.buckets, Kpis(orders=3)

    async def applied(self) -> tuple[int, datetime | None]:
        return 0, None


async def test_a_report_lists_its_active_buckets_in_time_order() -> None:
    later, earlier, idle = AT + timedelta(hours=2), AT, AT + timedelta(hours=1)
    source = FakeSource({later: Kpis(orders=1), idle: Kpis(), earlier: Kpis(refunds=1)})
    report = await kpis.kpi_report(source, line=PINGOU, granularity=Granularity.HOUR, start=AT,
                                   end=AT + timedelta(hours=3), now=AT)  # fmt: skip
    assert [start for start, _ in report.buckets] == [earlier, later]
    assert report.total.orders == 3
