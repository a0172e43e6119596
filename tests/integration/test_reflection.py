"""Server reflection as grpcurl and ghz use it, against the shared bootstrap over real gRPC. The server
needs no Postgres or Kafka: reflection never reaches a handler, so the notes servicer gets no pools."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pingou.testkit.v1 import notes_pb2_grpc

from libs.auth.local import LocalKeys
from libs.grpckit import GrpcApp
from libs.grpckit.reflection import file_declaring_member
from libs.grpckit.server import RunningServer
from libs.settings import ServiceSettings
from tests.notes_service.app import ACCESS, FULL_NAME, NoteServicer

NOTES_FILE = "pingou/testkit/v1/notes.proto"


@pytest.fixture(scope="module")
async def server(keys: LocalKeys) -> AsyncIterator[RunningServer]:
    app = GrpcApp(
        name="reflection-test",
        register=lambda server: notes_pb2_grpc.add_NoteServiceServicer_to_server(
            NoteServicer(pools={}, topic_prefix=""), server
        ),
        service_names=[FULL_NAME],
        validators={f"/{FULL_NAME}/{method}": lambda request: None for method in ("CreateNote", "GetNote", "Echo")},
        access=ACCESS,
    )
    settings = ServiceSettings(
        service_name="reflection-test",
        grpc_port=0,
        database_url="postgresql://unused/unused",  # never connected to: the app opens no pool
        kafka_bootstrap_servers="unused:9092",
        jwt_key_set_file=keys.key_set_file,
    )
    running = RunningServer(app, settings)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


async def file_containing(channel: grpc.aio.Channel, symbol: str) -> reflection_pb2.ServerReflectionResponse:
    """One `file_containing_symbol` exchange, without a token, as grpcurl and ghz --reflect send it."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)]))
    replies = [reply async for reply in call]
    assert len(replies) == 1
    reply: reflection_pb2.ServerReflectionResponse = replies[0]
    return reply


@pytest.mark.parametrize(
    "symbol",
    [f"{FULL_NAME}.Echo", FULL_NAME, "pingou.testkit.v1.EchoRequest"],
    ids=["method", "service", "message"],
)
async def test_a_symbol_resolves_to_the_file_that_declares_the_method(channel: grpc.aio.Channel, symbol: str) -> None:
    reply = await file_containing(channel, symbol)
    assert not reply.HasField("error_response"), reply.error_response.error_message
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto
    ]
    notes = next(file for file in files if file.name == NOTES_FILE)
    methods = {(service.name, method.name, method.input_type) for service in notes.service for method in service.method}
    assert ("NoteService", "Echo", ".pingou.testkit.v1.EchoRequest") in methods


async def test_an_unknown_method_is_still_not_found(channel: grpc.aio.Channel) -> None:
    reply = await file_containing(channel, f"{FULL_NAME}.NoSuchMethod")
    assert reply.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_methods_and_oneofs_are_traced_to_their_file() -> None:
    pool = descriptor_pool.Default()
    kind = struct_pb2.Value.DESCRIPTOR.oneofs_by_name["kind"].full_name
    declaring = {symbol: file_declaring_member(pool, symbol) for symbol in (f"{FULL_NAME}.GetNote", kind)}
    assert {symbol: file and file.name for symbol, file in declaring.items()} == {
        f"{FULL_NAME}.GetNote": NOTES_FILE,
        kind: "google/protobuf/struct.proto",
    }
    assert file_declaring_member(pool, "google.protobuf.Value.no_such_member") is None
