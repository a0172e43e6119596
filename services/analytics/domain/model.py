"""The business KPIs (orders, GMV, buyers, groups, PLUS sold, invites, per line) and the report windows they are
read over. No infrastructure here.

Buckets are Asia/Shanghai minutes, hours and days: the business day is Beijing time's. A report covers
whole buckets. Distinct counts (ordering and paying users, users per city tier) are distinct over the span
asked for, so they are not the sum of a report's buckets; every other KPI is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from libs.core import BusinessLine, FieldViolation, InvalidArgument
from libs.core.cities import UNKNOWN_TIER

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_BUCKETS = 1440  # a day of minutes, two months of hours, four years of days
TIERS = tuple(range(1, UNKNOWN_TIER + 1))
LOWER_TIERS = tuple(range(3, UNKNOWN_TIER + 1))  # the tier 3 to 6 cities pingou was spun off to reach


class Granularity(StrEnum):
    # The values are PostgreSQL's date_trunc fields.
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


class Channel(StrEnum):
    PINGOU_APP = "pingou_app"
    WECHAT_MINI_PROGRAM = "wechat_mini_program"
    MALL_APP = "mall_app"
    H5 = "h5"
    UNSPECIFIED = "unspecified"  # an order whose event named none: still an order


def bucket_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the Asia/Shanghai minute, hour or day holding `moment`."""
    local = moment.astimezone(SHANGHAI)
    if granularity is Granularity.MINUTE:
        return local.replace(second=0, microsecond=0)
    if granularity is Granularity.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    return datetime.combine(local.date(), time(), tzinfo=SHANGHAI)


def next_bucket(start: datetime, granularity: Granularity) -> datetime:
    if granularity is Granularity.MINUTE:
        return start + timedelta(minutes=1)
    if granularity is Granularity.HOUR:
        return start + timedelta(hours=1)
    local = start.astimezone(SHANGHAI)
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=SHANGHAI)


def is_bucket_start(moment: datetime, granularity: Granularity) -> bool:
    return bucket_start(moment, granularity) == moment


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end), whole buckets of `granularity`."""

    start: datetime
    end: datetime
    granularity: Granularity

    def bucket_starts(self) -> list[datetime]:
        starts, at = [], self.start
        while at < self.end:
            starts.append(at)
            at = next_bucket(at, self.granularity)
        return starts

    def covering(self) -> tuple[Granularity, bool]:
        """The coarsest granularity whose buckets tile the window, and whether the window is one such bucket:
        distinct users over the window are counted from that level's first-seen rows."""
        for level in (Granularity.DAY, Granularity.HOUR):
            if is_bucket_start(self.start, level) and is_bucket_start(self.end, level):
                return level, next_bucket(self.start, level) == self.end
        return Granularity.MINUTE, next_bucket(self.start, Granularity.MINUTE) == self.end


def report_window(granularity: Granularity, *, start: datetime | None, end: datetime | None, now: datetime) -> Window:
    """The window a report covers: `start` defaults to the start of today (Asia/Shanghai), `end` to now; the
    window is then widened to whole buckets (`start` down to its bucket's start, `end` up to its bucket's
    end). It must be non-empty and hold at most MAX_BUCKETS buckets."""
    end = now if end is None else end
    start = bucket_start(now, Granularity.DAY) if start is None else start
    if start >= end:
        raise InvalidArgument("from must be before to", violations=[FieldViolation("from", "must be before to")])
    first, last = bucket_start(start, granularity), bucket_start(end, granularity)
    # A cheap bound first: a far `end` must not make us count millions of buckets.
    rough = (last - first) / {Granularity.MINUTE: timedelta(minutes=1), Granularity.HOUR: timedelta(hours=1),
                              Granularity.DAY: timedelta(hours=23)}[granularity]  # fmt: skip
    window = Window(first, last if last == end else next_bucket(last, granularity), granularity)
    if rough > MAX_BUCKETS + 1 or len(window.bucket_starts()) > MAX_BUCKETS:
        description = f"leaves more than {MAX_BUCKETS} {granularity.value} buckets after from"
        raise InvalidArgument(f"to {description}", violations=[FieldViolation("to", description)])
    return window


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(slots=True)
class Kpis:
    """One bucket's KPIs, or a whole window's. Filled from several facts tables, so not frozen."""

    orders: int = 0
    items: int = 0
    gmv_minor: int = 0
    paying_users: int = 0
    ordering_users: int = 0
    orders_by_channel: dict[Channel, int] = field(default_factory=dict)
    ordering_users_by_tier: dict[int, int] = field(default_factory=dict)
    ordering_users_lower_tiers: int = 0  # distinct users with an order to a tier 3 to 6 city
    new_to_company_users: int = 0
    groups_opened: int = 0
    groups_completed: int = 0
    groups_failed: int = 0
    completion_seconds: float = 0.0  # summed over the completed groups whose opening time is known
    timed_completions: int = 0
    invites: int = 0
    memberships_sold: int = 0
    refunds: int = 0
    refunded_minor: int = 0

    @property
    def mini_program_share(self) -> float:
        return share(self.orders_by_channel.get(Channel.WECHAT_MINI_PROGRAM, 0), self.orders)

    @property
    def tier3_to_6_share(self) -> float:
        return share(self.ordering_users_lower_tiers, self.ordering_users)

    @property
    def mean_completion_seconds(self) -> float:
        return self.completion_seconds / self.timed_completions if self.timed_completions else 0.0

    def add(self, other: Kpis) -> None:
        """Adds a bucket's counts and sums to these (a window's); distinct counts are not added up: the
        window's are counted over the window."""
        for name in ADDITIVE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for channel, orders in other.orders_by_channel.items():
            self.orders_by_channel[channel] = self.orders_by_channel.get(channel, 0) + orders

    def any_activity(self) -> bool:
        return any(
            (
                self.orders,
                self.gmv_minor,
                self.paying_users,
                self.new_to_company_users,
                self.groups_opened,
                self.groups_completed,
                self.groups_failed,
                self.invites,
                self.memberships_sold,
                self.refunds,
            )
        )


# Each user's first payment falls in one bucket, so new-to-company users add up across buckets too.
ADDITIVE = ("orders", "items", "gmv_minor", "new_to_company_users", "groups_opened", "groups_completed",
            "groups_failed", "completion_seconds", "timed_completions", "invites", "memberships_sold", "refunds",
            "refunded_minor")  # fmt: skip


@dataclass(frozen=True, slots=True)
class KpiReport:
    line: BusinessLine
    window: Window
    buckets: list[tuple[datetime, Kpis]]  # in time order, only those with activity
    total: Kpis


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    lag: int  # records on the partition the consumer group has not applied yet


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    partitions: list[PartitionLag]
    events_applied: int
    last_applied_at: datetime | None
