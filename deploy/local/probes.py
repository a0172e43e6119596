"""Who answers where, decided by real client round trips: a PostgreSQL connection that runs SELECT 1, a
Kafka metadata request that lists a broker, the wait until one of those succeeds (failing early when the
server's process died), and the check that a port is free before one of our servers is started on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

# Neither package ships type information; `unused-ignore` keeps mypy quiet if stubs appear later.
import asyncpg  # type: ignore[import-untyped, unused-ignore]
from aiokafka.client import AIOKafkaClient  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

from deploy.local.processes import InfraError, _log_excerpt
from deploy.local.profiles import HOST, Layout

PROBE_TIMEOUT_S: Final = 3.0
EXTERNAL_WAIT_S: Final = 10.0


async def _probe_postgres(dsn: str) -> str | None:
    """None when a connection runs SELECT 1, else why not."""
    try:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT_S)
        try:
            await conn.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_S)
        finally:
            await conn.close(timeout=PROBE_TIMEOUT_S)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        return _describe(err)
    return None


async def _probe_kafka(bootstrap: str) -> str | None:
    """None when a client completes a metadata round trip that lists a broker, else why not."""
    # aiokafka logs an error for every refused connection; a plain TCP check first keeps the
    # waiting loop quiet while the broker is not listening yet.
    if not await _any_port_open(bootstrap):
        return "connection refused"
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), PROBE_TIMEOUT_S)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), PROBE_TIMEOUT_S)
        broker_count = len(metadata.brokers())
    except (OSError, KafkaError) as err:  # OSError covers TimeoutError
        return _describe(err)
    finally:
        await client.close()
    return None if broker_count else "no broker registered yet"


async def _any_port_open(bootstrap: str) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), PROBE_TIMEOUT_S)
        except (OSError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def _wait_until_ready(
    what: str,
    probe: Callable[[str], Awaitable[str | None]],
    address: str,
    timeout_s: float = EXTERNAL_WAIT_S,
    *,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Polls probe(address) until it succeeds; fails early if the process died, else at timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        problem = await probe(address)
        if problem is None:
            return
        if alive is not None and not alive():
            raise InfraError(f"{what} exited while starting{_log_excerpt(log)}")
        if time.monotonic() >= deadline:
            raise InfraError(f"{what} did not answer within {timeout_s:.0f} s (last: {problem}){_log_excerpt(log)}")
        await asyncio.sleep(0.5)


def _state(problem: str | None) -> str:
    return "SERVING" if problem is None else "DOWN"


def _describe(err: BaseException) -> str:
    return str(err) or type(err).__name__


def _url_address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def _require_free_port(port: int, what: str, layout: Layout) -> None:
    """A port that answers although our own server is not running belongs to someone else:
    another clone's or another data folder's server, most likely."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1.0):
        raise InfraError(
            f"cannot start {what}: {HOST}:{port} is already in use by a process that the data "
            f"folder {layout.root} did not start (another clone's `up`?); stop it first"
        )
