"""Request validation at analytics' edge: shape only (lines, granularities, moments). Whether a window
is empty or holds too many buckets is the report's rule (domain.model.report_window), and who may read
a line is decided behind it. Every request has passed libs.grpckit.wellformed first (no control
characters, no unknown enum value)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pingou.analytics.v1 import analytics_pb2 as pb

from libs.convert import LINE_FROM_PROTO
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.analytics.domain.model import Granularity

SERVICE = pb.DESCRIPTOR.services_by_name["AnalyticsService"].full_name
GRANULARITY_FROM_PROTO: dict[pb.Granularity.ValueType, Granularity] = {
    pb.GRANULARITY_MINUTE: Granularity.MINUTE,
    pb.GRANULARITY_HOUR: Granularity.HOUR,
    pb.GRANULARITY_DAY: Granularity.DAY,
}
DEFAULT_GRANULARITY = Granularity.HOUR
EARLIEST_AT, LATEST_AT = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _moment(problems: Violations, request: pb.GetKpisRequest, field: str) -> None:
    if request.HasField(field):  # type: ignore[arg-type]  # "from" and "to", fixed names
        stamp = getattr(request, field)
        if not (EARLIEST_AT.timestamp() <= stamp.seconds < LATEST_AT.timestamp() and 0 <= stamp.nanos < 10**9):
            problems.add(field, "must be a moment between the years 2000 and 2100")


def validate_get_kpis(request: pb.GetKpisRequest) -> None:
    problems = Violations()
    problems.enum("line", request.line, allowed=LINE_FROM_PROTO)
    if request.granularity != pb.GRANULARITY_UNSPECIFIED:  # unspecified: the default
        problems.enum("granularity", request.granularity, allowed=GRANULARITY_FROM_PROTO)
    _moment(problems, request, "from")
    _moment(problems, request, "to")
    problems.raise_if_any()


def validate_get_consumer_status(request: pb.GetConsumerStatusRequest) -> None:
    problems = Violations()
    problems.enum("line", request.line, allowed=LINE_FROM_PROTO)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/GetKpis": validate_get_kpis,
    f"/{SERVICE}/GetConsumerStatus": validate_get_consumer_status,
}
