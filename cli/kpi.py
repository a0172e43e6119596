"""`pingou kpi`: the KPI report of the chosen line from the analytics service (GetKpis), bucket by bucket and
for the whole range, with the headline shares: orders through the WeChat mini program, and ordering users
in tier-3 to tier-6 cities."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import grpc
import typer
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.analytics.v1 import analytics_pb2_grpc as pb_grpc
from pingou.order.v1 import order_pb2
from rich.table import Table

from cli import output
from cli.connection import session_of
from libs.convert import LINE_FROM_PROTO, LINE_TO_PROTO, timestamp


class Granularity(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


BUCKET_FORMAT = {
    pb.GRANULARITY_MINUTE: "%Y-%m-%d %H:%M",
    pb.GRANULARITY_HOUR: "%Y-%m-%d %H:00",
    pb.GRANULARITY_DAY: "%Y-%m-%d",
}


def analytics(channel: grpc.aio.Channel) -> pb_grpc.AnalyticsServiceStub:
    return pb_grpc.AnalyticsServiceStub(channel)


def duration(seconds: float) -> str:
    if not seconds:
        return ""
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h {minute:02d}m" if hours else f"{minute}m {second:02d}s"


def bucket_start(stamp: Timestamp, granularity: pb.Granularity.ValueType) -> str:
    moment = stamp.ToDatetime(tzinfo=UTC).astimezone(output.CHINA_TIME)
    return moment.strftime(BUCKET_FORMAT.get(granularity, BUCKET_FORMAT[pb.GRANULARITY_HOUR]))


def kpi_row(rows: Table, start: str, kpis: pb.Kpis, *, style: str | None = None) -> None:
    rows.add_row(
        start,
        str(kpis.orders),
        str(kpis.items),
        output.money(kpis.gmv_minor),
        str(kpis.paying_users),
        str(kpis.ordering_users),
        output.share(kpis.mini_program_share),
        output.share(kpis.tier3_to_6_share),
        str(kpis.new_to_company_users),
        f"{kpis.groups_opened}/{kpis.groups_completed}/{kpis.groups_failed}",
        duration(kpis.mean_completion_seconds),
        str(kpis.invites),
        str(kpis.memberships_sold),
        f"{kpis.refunds} ({output.money(kpis.refunded_minor)})" if kpis.refunds else "0",
        style=style,
    )


def render_report(report: pb.KpiReport) -> output.Rendered:
    line = LINE_FROM_PROTO.get(report.line, "")
    title = (
        f"{line} KPIs by {output.label(pb.Granularity.DESCRIPTOR, report.granularity)}, "
        f"{output.moment(getattr(report, 'from'))} to {output.moment(report.to)} (China time)"
    )
    rows = output.table(
        title,
        "start",
        "orders",
        "items",
        "GMV",
        "paying users",
        "ordering users",
        "mini-program share",
        "tier 3-6 share",
        "new to company",
        "groups opened/completed/failed",
        "mean completion",
        "invites",
        "PLUS sold",
        "refunds",
    )
    for bucket in report.buckets:
        kpi_row(rows, bucket_start(bucket.start, report.granularity), bucket.kpis)
    rows.add_section()
    kpi_row(rows, "total", report.total, style="bold")
    channels = output.table("orders by channel (total)", "channel", "orders")
    for count in report.total.orders_by_channel:
        channels.add_row(output.label(order_pb2.Channel.DESCRIPTOR, count.channel), str(count.orders))
    tiers = output.table("ordering users by city tier (total)", "city tier", "users")
    for tier in report.total.ordering_users_by_city_tier:
        tiers.add_row(str(tier.city_tier), str(tier.users))
    return [rows, channels, tiers]


def kpi(
    context: typer.Context,
    granularity: Annotated[Granularity, typer.Option(help="bucket size")] = Granularity.HOUR,
    since: Annotated[
        datetime | None,
        typer.Option("--from", parser=output.parse_moment, metavar="ISO-TIME", help="default: today's start"),
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--to", parser=output.parse_moment, metavar="ISO-TIME", help="default: now")
    ] = None,
) -> None:
    """The KPI report of the chosen line: orders, GMV, users, shares, groups, PLUS.

    --from and --to are China time unless they carry an offset.
    """
    session = session_of(context)
    request = pb.GetKpisRequest(
        line=LINE_TO_PROTO[session.line], granularity=pb.Granularity.Value(f"GRANULARITY_{granularity.name}")
    )
    if since is not None:
        getattr(request, "from").CopyFrom(timestamp(since))  # `from` is a Python keyword
    if until is not None:
        request.to.CopyFrom(timestamp(until))
    report: pb.KpiReport = session.call(
        "analytics", session.operator(), lambda channel: analytics(channel).GetKpis(request), retry=True
    )
    output.emit(session, report, render_report)
