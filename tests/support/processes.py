"""Every service of the platform as real processes (`deploy/local/services.py`, as `make up` runs them),
on free ports, a fresh database and a topic prefix of their own: what the bench and demo tests load."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.local import services
from libs.auth.local import LocalKeys
from tests.conftest import Infra, fresh_database
from tests.support.notes import free_port


@dataclass(frozen=True)
class PlatformProcesses:
    specs: list[services.ServiceSpec]
    database_url: str
    topic_prefix: str
    folder: Path  # their pid files (run/) and logs (logs/)
    env: dict[str, str]  # what each process was started with (to start one again)

    @property
    def addresses(self) -> dict[str, str]:
        return {spec.name: f"{services.HOST}:{spec.port}" for spec in self.specs}

    def pids(self) -> dict[str, int]:
        return {spec.name: int((self.folder / "run" / f"{spec.name}.pid").read_text()) for spec in self.specs}


@asynccontextmanager
async def platform_processes(
    infra: Infra, keys: LocalKeys, page_token_key: Path, folder: Path, *, prefix_letter: str
) -> AsyncIterator[PlatformProcesses]:
    specs = [dataclasses.replace(spec, port=free_port(), metrics_port=None) for spec in services.SERVICES]
    prefix = f"{prefix_letter}{uuid.uuid4().hex[:8]}."
    async with fresh_database(infra) as database_url:
        env = {
            **services.platform_env(
                database_url=database_url,
                kafka_bootstrap=infra.kafka_bootstrap,
                keys=keys,
                identity_salt=uuid.uuid4().hex,
                page_token_key=page_token_key,
                specs=specs,
            ),
            "KAFKA_TOPIC_PREFIX": prefix,
        }
        try:
            await asyncio.to_thread(services.up_all, env, folder, specs)
            yield PlatformProcesses(specs, database_url, prefix, folder, env)
        finally:
            await asyncio.to_thread(services.down_all, folder, specs)
