"""The shared server bootstrap, exercised through the notes test service over real gRPC."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from pingou.testkit.v1 import notes_pb2, notes_pb2_grpc
from prometheus_client import REGISTRY

from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.grpckit import open_channel, service_token_metadata
from libs.grpckit.errors import reason_of
from libs.grpckit.server import RunningServer
from tests.conftest import Infra, Mint
from tests.notes_service.app import FULL_NAME
from tests.support.notes import free_port, notes_settings, running_notes, spawn_notes
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
async def pingou_only_server(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str
) -> AsyncIterator[RunningServer]:
    settings = notes_settings(
        database_url=database_url,
        kafka=infra.kafka_bootstrap,
        key_set_file=str(keys.key_set_file),
        topic_prefix=topic_prefix,
        served_lines="pingou",
        embedded_consumer=False,
    )
    async with running_notes(settings) as server:
        yield server


@pytest.fixture
async def channel(pingou_only_server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with open_channel(f"127.0.0.1:{pingou_only_server.port}", max_send_bytes=4 * 1024 * 1024) as channel:
        yield channel


def auth(token: str) -> list[tuple[str, str]]:
    return service_token_metadata(token)


async def test_health_reports_serving_for_the_server_and_each_service(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", FULL_NAME):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = set()
    async for reply in call:
        names |= {service.name for service in reply.list_services_response.service}
    assert {FULL_NAME, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_a_call_without_token_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await notes_pb2_grpc.NoteServiceStub(channel).CreateNote(notes_pb2.CreateNoteRequest(text="hi"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason_of(caught.value) == "TOKEN_MISSING"


async def test_a_forged_or_expired_token_is_unauthenticated(channel: grpc.aio.Channel, mint: Mint) -> None:
    stub = notes_pb2_grpc.NoteServiceStub(channel)
    good = mint()
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for token, reason in ((forged, "TOKEN_INVALID"), (mint(ttl_seconds=-120), "TOKEN_EXPIRED")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateNote(notes_pb2.CreateNoteRequest(text="hi"), metadata=auth(token))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(caught.value) == reason


async def test_a_token_of_the_other_line_is_permission_denied(channel: grpc.aio.Channel, mint: Mint) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await notes_pb2_grpc.NoteServiceStub(channel).CreateNote(
            notes_pb2.CreateNoteRequest(text="hi"), metadata=auth(mint(line=BusinessLine.MALL))
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason_of(caught.value) == "LINE_NOT_SERVED"


async def test_an_oversized_message_is_refused(channel: grpc.aio.Channel, mint: Mint) -> None:
    request = notes_pb2.EchoRequest(payload=b"x" * (1024 * 1024 + 1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await notes_pb2_grpc.NoteServiceStub(channel).Echo(request, metadata=auth(mint()))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_message_under_the_limit_is_accepted(channel: grpc.aio.Channel, mint: Mint) -> None:
    request = notes_pb2.EchoRequest(payload=b"x" * (1000 * 1000))
    reply = await notes_pb2_grpc.NoteServiceStub(channel).Echo(request, metadata=auth(mint()))
    assert len(reply.payload) == 1000 * 1000


async def test_bad_input_is_invalid_argument_naming_each_field(channel: grpc.aio.Channel, mint: Mint) -> None:
    stub = notes_pb2_grpc.NoteServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateNote(notes_pb2.CreateNoteRequest(text="x" * 201), metadata=auth(mint()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    violations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations = [violation.field for violation in bad_request.field_violations]
    assert violations == ["text"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetNote(notes_pb2.GetNoteRequest(note_id="not-a-uuid"), metadata=auth(mint()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_missing_note_is_not_found_with_a_reason_and_counted(channel: grpc.aio.Channel, mint: Mint) -> None:
    labels = {"method": "/pingou.testkit.v1.NoteService/GetNote", "code": "NOT_FOUND"}
    before = REGISTRY.get_sample_value("rpc_requests_total", labels) or 0.0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await notes_pb2_grpc.NoteServiceStub(channel).GetNote(
            notes_pb2.GetNoteRequest(note_id="00000000-0000-4000-8000-000000000000"), metadata=auth(mint())
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(caught.value) == "NOTE_NOT_FOUND"
    assert REGISTRY.get_sample_value("rpc_requests_total", labels) == before + 1


async def test_a_created_note_reads_back(channel: grpc.aio.Channel, mint: Mint) -> None:
    stub = notes_pb2_grpc.NoteServiceStub(channel)
    token = mint(subject="writer-1")
    created = await stub.CreateNote(notes_pb2.CreateNoteRequest(text="第一条"), metadata=auth(token))
    read = await stub.GetNote(notes_pb2.GetNoteRequest(note_id=created.note_id), metadata=auth(token))
    assert (read.author, read.text) == ("writer-1", "第一条")


async def test_sigterm_lets_an_in_flight_call_finish_then_exits(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, mint: Mint
) -> None:
    port = free_port()
    process = spawn_notes(
        {
            "GRPC_PORT": str(port),
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "JWT_KEY_SET_FILE": str(keys.key_set_file),
            "KAFKA_TOPIC_PREFIX": topic_prefix,
            "SHUTDOWN_DRAIN_SECONDS": "1",
            "SHUTDOWN_GRACE_SECONDS": "10",
        }
    )
    try:
        async with open_channel(f"127.0.0.1:{port}", default_timeout=10) as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.aio.AioRpcError:
                    return False
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

            await eventually(serving, timeout=60, pause=0.2)
            stub = notes_pb2_grpc.NoteServiceStub(channel)
            in_flight = asyncio.ensure_future(
                stub.Echo(notes_pb2.EchoRequest(payload=b"done", delay_ms=3000), metadata=auth(mint()))
            )
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            draining = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            assert draining.status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert (await in_flight).payload == b"done"
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        if process.poll() is None:
            process.kill()


async def test_a_malformed_body_is_invalid_argument_not_unknown(channel: grpc.aio.Channel, mint: Mint) -> None:
    raw = channel.unary_unary("/pingou.testkit.v1.NoteService/GetNote")  # sends the bytes as they are
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(b"\xff\xff\xff", metadata=auth(mint()))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(caught.value) == "MALFORMED_REQUEST"
