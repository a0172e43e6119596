"""The gRPC adapter: proto <-> domain. Use cases do the work. Requests are validated (`validation.py`) and
their callers checked against the method's rule (`access.py`) before they get here: the line a call names
is the caller's line, and the caller an analyst or operator."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import grpc
from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.analytics.v1 import analytics_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.core import BusinessLine
from services.analytics.entrypoints.mapping import report_to_proto, status_to_proto
from services.analytics.entrypoints.validation import DEFAULT_GRANULARITY, GRANULARITY_FROM_PROTO
from services.analytics.service_layer import kpis
from services.analytics.service_layer.ports import ConsumerPositions, KpiSource


class AnalyticsServicer(pb_grpc.AnalyticsServiceServicer):
    def __init__(
        self,
        *,
        sources: Mapping[BusinessLine, KpiSource],
        positions: ConsumerPositions,
        topics: Mapping[BusinessLine, Sequence[str]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._sources = sources
        self._positions = positions
        self._topics = topics
        self._now = clock

    async def GetKpis(self, request: pb.GetKpisRequest, context: grpc.aio.ServicerContext) -> pb.KpiReport:
        line = current_principal().line
        start = getattr(request, "from")  # `from` is a Python keyword
        report = await kpis.kpi_report(
            self._sources[line],
            line=line,
            granularity=GRANULARITY_FROM_PROTO.get(request.granularity, DEFAULT_GRANULARITY),
            start=start.ToDatetime(tzinfo=UTC) if request.HasField("from") else None,
            end=request.to.ToDatetime(tzinfo=UTC) if request.HasField("to") else None,
            now=self._now(),
        )
        return report_to_proto(report)

    async def GetConsumerStatus(
        self, request: pb.GetConsumerStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConsumerStatus:
        line = current_principal().line
        status = await kpis.consumer_status(self._sources[line], self._positions, topics=self._topics[line])
        return status_to_proto(status)
