"""Transport security as configuration: TLS on a service's port, mutual TLS refusing a client without a
good certificate, certificates reloaded when their files change, and TLS for outgoing channels."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from libs.auth.local import LocalKeys
from libs.grpckit import open_channel
from libs.grpckit.server import RunningServer, client_tls_of
from libs.grpckit.tls import ClientTls, client_tls, use_client_tls
from libs.settings import ServiceSettings, SettingsError, load_settings
from tests.conftest import Infra
from tests.support.certificates import CertificateAuthority, Pair
from tests.support.notes import notes_settings, running_notes

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("tls"), "platform-ca")


@asynccontextmanager
async def notes_with_tls(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, **tls: Any
) -> AsyncIterator[RunningServer]:
    settings = notes_settings(
        database_url=database_url,
        kafka=infra.kafka_bootstrap,
        key_set_file=str(keys.key_set_file),
        topic_prefix=topic_prefix,
        embedded_consumer=False,
        **tls,
    )
    async with running_notes(settings) as server:
        yield server


async def serving(port: int, tls: ClientTls | None) -> bool:
    """A health check over a fresh channel (a new connection, so a new handshake)."""
    async with open_channel(f"127.0.0.1:{port}", tls=tls, default_timeout=3) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise  # refused at the handshake is UNAVAILABLE; anything else is a failure of its own
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def test_tls_serves_clients_that_trust_its_ca_and_refuses_plaintext(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, ca: CertificateAuthority, tmp_path: Path
) -> None:
    server_pair = ca.issue("notes-tls")
    stranger = CertificateAuthority(tmp_path / "other", "stranger-ca")
    tls = {"tls_cert_file": server_pair.cert_file, "tls_key_file": server_pair.key_file}
    async with notes_with_tls(infra, database_url, keys, topic_prefix, **tls) as server:
        assert await serving(server.port, ClientTls(ca.cert_file))
        assert not await serving(server.port, None)  # plaintext
        assert not await serving(server.port, ClientTls(stranger.cert_file))  # does not trust the server


async def test_mutual_tls_refuses_a_client_without_a_certificate_of_its_ca(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, ca: CertificateAuthority, tmp_path: Path
) -> None:
    server_pair, client_pair = ca.issue("notes-mtls"), ca.issue("order-client")
    stranger = CertificateAuthority(tmp_path / "other", "stranger-ca").issue("intruder")
    tls = {
        "tls_cert_file": server_pair.cert_file,
        "tls_key_file": server_pair.key_file,
        "tls_client_ca_file": ca.cert_file,
    }
    async with notes_with_tls(infra, database_url, keys, topic_prefix, **tls) as server:
        assert await serving(server.port, ClientTls(ca.cert_file, client_pair.cert_file, client_pair.key_file))
        assert not await serving(server.port, ClientTls(ca.cert_file))  # no certificate
        assert not await serving(server.port, ClientTls(ca.cert_file, stranger.cert_file, stranger.key_file))
        assert not await serving(server.port, None)


async def test_a_rotated_certificate_is_served_without_a_restart(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, ca: CertificateAuthority, tmp_path: Path
) -> None:
    live = Pair(tmp_path / "live.crt", tmp_path / "live.key")
    first = ca.issue("notes-before")
    shutil.copy(first.cert_file, live.cert_file)
    shutil.copy(first.key_file, live.key_file)
    successor = CertificateAuthority(tmp_path / "next", "next-ca")
    tls = {"tls_cert_file": live.cert_file, "tls_key_file": live.key_file}
    async with notes_with_tls(infra, database_url, keys, topic_prefix, **tls) as server:
        assert await serving(server.port, ClientTls(ca.cert_file))
        assert not await serving(server.port, ClientTls(successor.cert_file))
        rotated = successor.issue("notes-after")
        await asyncio.sleep(0.01)  # a later modification time than the first files'
        shutil.copy(rotated.key_file, live.key_file)
        shutil.copy(rotated.cert_file, live.cert_file)
        assert await serving(server.port, ClientTls(successor.cert_file))
        assert not await serving(server.port, ClientTls(ca.cert_file))


async def test_outgoing_channels_use_the_process_setting(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, ca: CertificateAuthority
) -> None:
    server_pair = ca.issue("notes-outgoing")
    tls = {"tls_cert_file": server_pair.cert_file, "tls_key_file": server_pair.key_file}
    async with notes_with_tls(infra, database_url, keys, topic_prefix, **tls) as server:
        settings = notes_settings(
            database_url=database_url,
            kafka=infra.kafka_bootstrap,
            key_set_file=str(keys.key_set_file),
            topic_prefix=topic_prefix,
            tls_ca_file=ca.cert_file,
            **tls,
        )
        before = client_tls()
        use_client_tls(client_tls_of(settings))  # what run_app does before building the app
        try:
            async with open_channel(f"127.0.0.1:{server.port}", default_timeout=3) as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            use_client_tls(before)


def test_tls_files_are_checked_at_start(
    monkeypatch: pytest.MonkeyPatch, keys: LocalKeys, ca: CertificateAuthority, tmp_path: Path
) -> None:
    pair = ca.issue("settings-check")
    for name, value in {
        "SERVICE_NAME": "notes",
        "GRPC_PORT": "0",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "JWT_KEY_SET_FILE": str(keys.key_set_file),
        "TLS_CERT_FILE": str(pair.cert_file),
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="TLS_CERT_FILE and TLS_KEY_FILE"):
        load_settings(ServiceSettings)
    monkeypatch.setenv("TLS_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(SettingsError, match=r"TLS_KEY_FILE: .*no such file"):
        load_settings(ServiceSettings)
    monkeypatch.setenv("TLS_KEY_FILE", str(pair.key_file))
    monkeypatch.setenv("TLS_CLIENT_CA_FILE", str(ca.cert_file))
    assert load_settings(ServiceSettings).tls_client_ca_file == ca.cert_file
