"""Groupbuy as `make up` runs it: `python -m services.groupbuy migrate`, then a process that reports
SERVING and stops gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from deploy.local import services
from libs.auth.local import LocalKeys
from tests.conftest import Infra, fresh_database
from tests.support.notes import free_port

pytestmark = pytest.mark.infra

DEPENDENCIES = ("CATALOG", "ORDER", "SEGMENTATION", "MEMBERSHIP")


async def test_groupbuy_is_migrated_started_serving_and_stopped(
    infra: Infra, keys: LocalKeys, page_token_key: Path, tmp_path: Path
) -> None:
    spec = services.ServiceSpec(name="groupbuy", module="services.groupbuy", port=free_port())
    async with fresh_database(infra) as database_url:
        env = {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "JWT_KEY_SET_FILE": str(keys.key_set_file),
            "SERVICE_SIGNING_KEY_FILE": str(keys.service_key_file("groupbuy")),
            "PAGE_TOKEN_KEY_FILE": str(page_token_key),
            "KAFKA_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
            # Nothing answers there: groupbuy serves anyway and reports those calls UNAVAILABLE.
            **{
                f"{name}_ADDRESS": f"127.0.0.1:{free_port()}"
                for name in ("CATALOG", "ORDER", "SEGMENTATION", "MEMBERSHIP")
            },
        }
        try:
            await asyncio.to_thread(services.up_all, env, tmp_path, [spec])
            assert await asyncio.to_thread(services.status_all, [spec]) == [
                ("groupbuy", f"127.0.0.1:{spec.port}", "SERVING")
            ]
        finally:
            await asyncio.to_thread(services.down_all, tmp_path, [spec])
        assert "server_stopped" in (tmp_path / "logs" / "groupbuy.log").read_text()
