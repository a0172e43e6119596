"""python -m bench.echo: the echo ceiling, one method that does nothing, served by the platform's own
server bootstrap (libs.grpckit: interceptor, auth, logging, metrics, tracing, uvloop) so that its rate is
what the stack itself allows. It needs no database and no broker."""

from __future__ import annotations

import grpc
from pingou.bench.v1 import echo_pb2, echo_pb2_grpc

from libs.grpckit import GrpcApp, Violations
from libs.grpckit.access import ANY_ROLE, CALLERS_LINE, Access
from libs.grpckit.main import service_main
from libs.settings import ServiceSettings

FULL_NAME = echo_pb2.DESCRIPTOR.services_by_name["EchoService"].full_name


class EchoSettings(ServiceSettings):
    service_name: str = "bench-echo"
    # The stack needs no database or broker here; the settings type asks for them all the same.
    database_url: str = "postgresql://unused/unused"
    kafka_bootstrap_servers: str = "unused:9092"


class EchoServicer(echo_pb2_grpc.EchoServiceServicer):
    async def Echo(self, request: echo_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> echo_pb2.EchoReply:
        return echo_pb2.EchoReply(text=request.text)


def validate_echo(request: echo_pb2.EchoRequest) -> None:
    problems = Violations()
    problems.text("text", request.text, min_length=0, max_length=200)
    problems.raise_if_any()


async def build_app(settings: EchoSettings) -> GrpcApp:
    servicer = EchoServicer()
    return GrpcApp(
        name=settings.service_name,
        register=lambda server: echo_pb2_grpc.add_EchoServiceServicer_to_server(servicer, server),
        service_names=[FULL_NAME],
        validators={f"/{FULL_NAME}/Echo": validate_echo},
        access={f"/{FULL_NAME}/Echo": Access(roles=ANY_ROLE, line=CALLERS_LINE)},
    )


if __name__ == "__main__":
    service_main(EchoSettings, build_app, {})
