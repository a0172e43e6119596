"""Domain <-> proto for analytics: channels, granularities, KPIs, reports and the consumer's status."""

from __future__ import annotations

from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.order.v1 import order_pb2

from libs.convert import LINE_TO_PROTO, optional_timestamp, timestamp
from services.analytics.domain.model import Channel, ConsumerStatus, KpiReport, Kpis
from services.analytics.entrypoints.validation import GRANULARITY_FROM_PROTO

GRANULARITY_TO_PROTO = {value: key for key, value in GRANULARITY_FROM_PROTO.items()}
CHANNEL_TO_PROTO: dict[Channel, order_pb2.Channel.ValueType] = {
    channel: order_pb2.Channel.Value(f"CHANNEL_{channel.value.upper()}") for channel in Channel
}
# An order's channel as its event says; a value this build does not know counts as unspecified.
CHANNEL_FROM_PROTO: dict[int, Channel] = {value: key for key, value in CHANNEL_TO_PROTO.items()}


def kpis_to_proto(kpis: Kpis) -> pb.Kpis:
    return pb.Kpis(
        orders=kpis.orders,
        items=kpis.items,
        gmv_minor=kpis.gmv_minor,
        paying_users=kpis.paying_users,
        ordering_users=kpis.ordering_users,
        orders_by_channel=[
            pb.ChannelCount(channel=CHANNEL_TO_PROTO[channel], orders=orders)
            for channel, orders in sorted(kpis.orders_by_channel.items(), key=lambda item: CHANNEL_TO_PROTO[item[0]])
            if orders
        ],
        mini_program_share=kpis.mini_program_share,
        ordering_users_by_city_tier=[
            pb.TierCount(city_tier=tier, users=users) for tier, users in sorted(kpis.ordering_users_by_tier.items())
        ],
        tier3_to_6_share=kpis.tier3_to_6_share,
        new_to_company_users=kpis.new_to_company_users,
        groups_opened=kpis.groups_opened,
        groups_completed=kpis.groups_completed,
        groups_failed=kpis.groups_failed,
        mean_completion_seconds=kpis.mean_completion_seconds,
        invites=kpis.invites,
        memberships_sold=kpis.memberships_sold,
        refunds=kpis.refunds,
        refunded_minor=kpis.refunded_minor,
    )


def report_to_proto(report: KpiReport) -> pb.KpiReport:
    answer = pb.KpiReport(
        line=LINE_TO_PROTO[report.line],
        granularity=GRANULARITY_TO_PROTO[report.window.granularity],
        buckets=[pb.KpiBucket(start=timestamp(start), kpis=kpis_to_proto(kpis)) for start, kpis in report.buckets],
        total=kpis_to_proto(report.total),
    )
    getattr(answer, "from").CopyFrom(timestamp(report.window.start))  # `from` is a Python keyword
    answer.to.CopyFrom(timestamp(report.window.end))
    return answer


def status_to_proto(status: ConsumerStatus) -> pb.ConsumerStatus:
    return pb.ConsumerStatus(
        partitions=[
            pb.PartitionLag(topic=lag.topic, partition=lag.partition, lag=lag.lag) for lag in status.partitions
        ],
        events_applied=status.events_applied,
        last_applied_at=optional_timestamp(status.last_applied_at),
    )
