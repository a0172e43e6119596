"""Who may read a line's KPIs (its own line's analysts and operators, no one else), and what a request
must look like."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.common.v1 import common_pb2

from libs.auth import Role
from libs.convert import timestamp
from libs.core import BusinessLine
from libs.grpckit.errors import reason_of
from services.analytics.domain.model import SHANGHAI
from services.analytics.entrypoints.validation import SERVICE
from tests.integration.analytics.conftest import Metadata, Platform

pytestmark = pytest.mark.infra
PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
PROTO_PINGOU, PROTO_MALL = common_pb2.BUSINESS_LINE_PINGOU, common_pb2.BUSINESS_LINE_MALL


async def refusal(call: object, request: object, metadata: Metadata) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request, metadata=metadata)  # type: ignore[operator]  # a stub's method
    return caught.value.code(), reason_of(caught.value)


def kpis_request(line: common_pb2.BusinessLine.ValueType = PROTO_PINGOU, **fields: object) -> pb.GetKpisRequest:
    request = pb.GetKpisRequest(line=line)
    for name, value in fields.items():
        if isinstance(value, datetime):
            getattr(request, name.rstrip("_")).CopyFrom(timestamp(value))
        else:
            setattr(request, name, value)
    return request


@pytest.mark.parametrize("role", [Role.ANALYTICS, Role.OPERATOR])
async def test_analysts_and_operators_read_their_own_line(analytics: Platform, role: Role) -> None:
    for line, proto_line in ((PINGOU, PROTO_PINGOU), (MALL, PROTO_MALL)):
        report = await analytics.analytics.GetKpis(kpis_request(proto_line), metadata=analytics.token(line, role))
        assert report.line == proto_line
        assert report.granularity == pb.GRANULARITY_HOUR  # the default
        status = await analytics.analytics.GetConsumerStatus(
            pb.GetConsumerStatusRequest(line=proto_line), metadata=analytics.token(line, role)
        )
        assert status.partitions


async def test_a_token_of_the_other_line_is_refused(analytics: Platform) -> None:
    mall_analyst = analytics.token(MALL)
    assert await refusal(analytics.analytics.GetKpis, kpis_request(PROTO_PINGOU), mall_analyst) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "LINE_MISMATCH",
    )
    status_request = pb.GetConsumerStatusRequest(line=PROTO_MALL)
    assert await refusal(analytics.analytics.GetConsumerStatus, status_request, analytics.token(PINGOU)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "LINE_MISMATCH",
    )


OTHER_ROLES = [(Role.USER, "pu_1000001"), (Role.MERCHANT, "m-1"), (Role.SERVICE, "order")]


@pytest.mark.parametrize(("role", "subject"), OTHER_ROLES)
async def test_other_roles_are_refused(analytics: Platform, role: Role, subject: str) -> None:
    metadata = analytics.token(PINGOU, role, subject=subject)
    for call, request in (
        (analytics.analytics.GetKpis, kpis_request()),
        (analytics.analytics.GetConsumerStatus, pb.GetConsumerStatusRequest(line=PROTO_PINGOU)),
    ):
        assert await refusal(call, request, metadata) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")


async def test_a_call_without_a_token_is_unauthenticated(analytics: Platform) -> None:
    code, _ = await refusal(analytics.analytics.GetKpis, kpis_request(), [])
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_window_must_be_non_empty_and_hold_at_most_1440_buckets(analytics: Platform) -> None:
    start = datetime(2026, 6, 18, 2, tzinfo=UTC)
    metadata = analytics.token(PINGOU)
    cases = [
        (kpis_request(from_=start, to=start), "from"),
        (kpis_request(from_=start, to=start - timedelta(hours=1)), "from"),
        (kpis_request(granularity=pb.GRANULARITY_MINUTE, from_=start, to=start + timedelta(minutes=1441)), "to"),
        (kpis_request(granularity=pb.GRANULARITY_HOUR, from_=start, to=start + timedelta(hours=1441)), "to"),
        (kpis_request(line=common_pb2.BUSINESS_LINE_UNSPECIFIED), "line"),
        (kpis_request(from_=datetime(1999, 12, 31, tzinfo=UTC)), "from"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await analytics.analytics.GetKpis(request, metadata=metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert field in (caught.value.details() or ""), request
    # The most a window may hold: a day of minutes (the first bucket starting before `from`).
    widest = kpis_request(granularity=pb.GRANULARITY_MINUTE, from_=start, to=start + timedelta(minutes=1440))
    report = await analytics.analytics.GetKpis(widest, metadata=metadata)
    assert report.granularity == pb.GRANULARITY_MINUTE
    days = kpis_request(granularity=pb.GRANULARITY_DAY, from_=start, to=start + timedelta(days=1000))
    assert (await analytics.analytics.GetKpis(days, metadata=metadata)).granularity == pb.GRANULARITY_DAY


async def test_an_unset_window_is_today_in_beijing_to_the_end_of_the_current_hour(analytics: Platform) -> None:
    before = datetime.now(UTC)
    report = await analytics.analytics.GetKpis(kpis_request(), metadata=analytics.token(PINGOU))
    start, end = getattr(report, "from").ToDatetime(tzinfo=UTC), report.to.ToDatetime(tzinfo=UTC)
    assert start.astimezone(SHANGHAI).time() == time(0)  # midnight in Beijing
    assert (end.minute, end.second, end.microsecond) == (0, 0, 0)  # whole hours: the current one to its end
    assert before < end <= datetime.now(UTC) + timedelta(hours=1)
    assert timedelta(0) < end - start <= timedelta(days=1)


async def test_health_and_reflection_answer_without_a_token(analytics: Platform) -> None:
    assert analytics.channel is not None
    health = health_pb2_grpc.HealthStub(analytics.channel)
    for service in ("", SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    call = reflection_pb2_grpc.ServerReflectionStub(analytics.channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {service.name async for reply in call for service in reply.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names
