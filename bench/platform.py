"""The running platform the benchmark measures: where each service answers, its database and broker, the
key that mints operator tokens (ops/platform.py, shared with the simulator), and the processes whose CPU
and memory are counted."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

import ops.platform
from bench.processes import Tracked, parent_of
from deploy.local import services
from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine


@dataclass(frozen=True)
class Platform:
    addresses: Mapping[str, str]  # service name -> host:port
    database_url: str
    kafka_bootstrap: str
    keys: LocalKeys  # the development keys: operator tokens for set-up and load, the key set
    logs: Path
    topic_prefix: str = ""
    parts: Mapping[str, Tracked] = field(default_factory=dict)

    def operator_token(self) -> str:
        return self.keys.mint(
            subject="bench-operator", line=BusinessLine.PINGOU, roles=[Role.OPERATOR], ttl_seconds=7200
        )


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


async def postmaster_pid(database_url: str) -> int | None:
    """The local server's postmaster: the parent of our own backend (None for a remote server)."""
    connection = await asyncpg.connect(database_url)
    try:
        # Asked while the backend still lives: it exits with the connection.
        return parent_of(int(await connection.fetchval("SELECT pg_backend_pid()")))
    finally:
        await connection.close()


async def tracked_parts(
    database_url: str, service_pids: Mapping[str, int], kafka_pid: int | None
) -> dict[str, Tracked]:
    parts = {name: Tracked(name, pid) for name, pid in service_pids.items()}
    if kafka_pid is not None:
        parts["kafka"] = Tracked("kafka", kafka_pid)
    postmaster = await postmaster_pid(database_url)
    if postmaster is not None:
        parts["postgres"] = Tracked("postgres", postmaster, with_children=True)
    return parts


def local_platform(profile: str) -> Platform:
    """The platform of `make up` (started when it does not run yet: ops.platform), with its processes."""
    running = ops.platform.running(profile)
    service_pids = {
        spec.name: pid for spec in services.SERVICES if (pid := _pid(running.data_dir / "run" / f"{spec.name}.pid"))
    }
    kafka_pid = _pid(running.data_dir / "kafka" / "kafka.pid")
    return Platform(
        addresses=running.addresses,
        database_url=running.database_url,
        kafka_bootstrap=running.kafka_bootstrap,
        keys=running.keys,
        logs=running.data_dir / "logs",
        parts=asyncio.run(tracked_parts(running.database_url, service_pids, kafka_pid)),
    )
