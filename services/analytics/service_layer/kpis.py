"""The read side: a line's KPI report over a window, and how far the line's consumer is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from libs.core import BusinessLine
from services.analytics.domain.model import ConsumerStatus, Granularity, KpiReport, report_window
from services.analytics.service_layer.ports import ConsumerPositions, KpiSource


async def kpi_report(
    source: KpiSource,
    *,
    line: BusinessLine,
    granularity: Granularity,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> KpiReport:
    window = report_window(granularity, start=start, end=end, now=now)
    by_bucket, total = await source.kpis(window)
    buckets = [(at, kpis) for at, kpis in sorted(by_bucket.items()) if kpis.any_activity()]
    return KpiReport(line, window, buckets, total)


async def consumer_status(source: KpiSource, positions: ConsumerPositions, *, topics: Sequence[str]) -> ConsumerStatus:
    lags = await positions.lags(topics)
    applied, last_applied_at = await source.applied()
    return ConsumerStatus(sorted(lags, key=lambda lag: (lag.topic, lag.partition)), applied, last_applied_at)
