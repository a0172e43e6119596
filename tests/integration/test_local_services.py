"""deploy/local/services.py, which `make up`, `make status` and `make down` use for every service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploy.local import services
from libs.auth.local import LocalKeys
from tests.conftest import Infra
from tests.support.notes import free_port

pytestmark = pytest.mark.infra


async def test_a_service_is_migrated_started_reused_probed_and_stopped(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, tmp_path: Path
) -> None:
    spec = services.ServiceSpec(name="notes", module="tests.notes_service", port=free_port())
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "JWT_KEY_SET_FILE": str(keys.key_set_file),
        "KAFKA_TOPIC_PREFIX": topic_prefix + "local.",
    }
    assert await asyncio.to_thread(services.status_all, [spec]) == [("notes", f"127.0.0.1:{spec.port}", "DOWN")]
    try:
        await asyncio.to_thread(services.up_all, env, tmp_path, [spec])
        first_pid = (tmp_path / "run" / "notes.pid").read_text()
        assert await asyncio.to_thread(services.status_all, [spec]) == [("notes", f"127.0.0.1:{spec.port}", "SERVING")]
        await asyncio.to_thread(services.up_all, env, tmp_path, [spec])
        assert (tmp_path / "run" / "notes.pid").read_text() == first_pid  # reused, not started twice
    finally:
        await asyncio.to_thread(services.down_all, tmp_path, [spec])
    assert await asyncio.to_thread(services.status_all, [spec]) == [("notes", f"127.0.0.1:{spec.port}", "DOWN")]
    assert not (tmp_path / "run" / "notes.pid").exists()
    assert "server_stopped" in (tmp_path / "logs" / "notes.log").read_text()
