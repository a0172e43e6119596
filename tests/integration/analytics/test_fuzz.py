"""Every RPC of analytics, fuzzed as the other services' are (tests/integration/groupbuy/test_fuzz.py):
requests generated from the message descriptors, sent as an operator and as an analyst of each line.
No answer is UNKNOWN or INTERNAL and none hangs; analytics keeps applying events afterwards."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import message_factory
from pingou.analytics.v1 import analytics_pb2

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit import service_token_metadata
from tests.integration.analytics.conftest import Platform
from tests.support.fuzz import fuzz_method

pytestmark = pytest.mark.infra

SERVICE = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"]


def fuzz_analytics(platform: Platform) -> list[str]:
    tokens = [
        service_token_metadata(platform.mint(line=line, subject="fuzz", roles=(role,)))
        for line in BusinessLine
        for role in (Role.OPERATOR, Role.ANALYTICS)
    ]
    fuzzed = []
    with grpc.insecure_channel(f"127.0.0.1:{platform.port}") as channel:
        for method in SERVICE.methods:
            output = message_factory.GetMessageClass(method.output_type)
            call = channel.unary_unary(
                f"/{SERVICE.full_name}/{method.name}",
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=output.FromString,
            )
            fuzz_method(call, method, tokens)
            fuzzed.append(method.name)
    return fuzzed


async def test_every_analytics_rpc_fuzzed_answers_with_a_documented_status(analytics: Platform) -> None:
    assert analytics.port is not None
    fuzzed = await asyncio.to_thread(fuzz_analytics, analytics)
    assert fuzzed == [method.name for method in SERVICE.methods]
    status = await analytics.status(BusinessLine.PINGOU)  # still answering, still consuming
    assert status.partitions
