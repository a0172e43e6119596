"""The client helper: default deadlines, and retries on UNAVAILABLE for idempotent methods only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from pingou.testkit.v1 import notes_pb2, notes_pb2_grpc

from libs.auth.local import LocalKeys
from libs.grpckit import open_channel, service_token_metadata
from libs.grpckit.server import RunningServer
from tests.conftest import Infra, Mint
from tests.notes_service.app import FULL_NAME
from tests.support.notes import notes_settings, running_notes

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
async def server(infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str) -> AsyncIterator[RunningServer]:
    settings = notes_settings(
        database_url=database_url,
        kafka=infra.kafka_bootstrap,
        key_set_file=str(keys.key_set_file),
        topic_prefix=topic_prefix,
        embedded_consumer=False,
        embedded_relay=False,
    )
    async with running_notes(settings) as running:
        yield running


def flaky_echo(failures: int) -> notes_pb2.EchoRequest:
    return notes_pb2.EchoRequest(payload=b"ok", unavailable_times=failures, attempt_key=uuid.uuid4().hex)


async def test_an_idempotent_call_is_retried_through_unavailable(server: RunningServer, mint: Mint) -> None:
    metadata = lambda: service_token_metadata(mint())  # noqa: E731
    async with open_channel(
        f"127.0.0.1:{server.port}", idempotent_methods=[f"{FULL_NAME}/Echo"], metadata=metadata
    ) as channel:
        reply = await notes_pb2_grpc.NoteServiceStub(channel).Echo(flaky_echo(2))  # fails twice, then answers
    assert reply.payload == b"ok"


async def test_a_call_not_named_idempotent_is_never_retried(server: RunningServer, mint: Mint) -> None:
    metadata = lambda: service_token_metadata(mint())  # noqa: E731
    async with open_channel(f"127.0.0.1:{server.port}", metadata=metadata) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await notes_pb2_grpc.NoteServiceStub(channel).Echo(flaky_echo(1))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_call_without_a_deadline_gets_the_default_one(server: RunningServer, mint: Mint) -> None:
    async with open_channel(f"127.0.0.1:{server.port}", default_timeout=0.3) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await notes_pb2_grpc.NoteServiceStub(channel).Echo(
                notes_pb2.EchoRequest(delay_ms=3000), metadata=service_token_metadata(mint())
            )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
