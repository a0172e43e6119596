"""Running the notes test service in-process or as a child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from libs.grpckit import GrpcApp
from libs.grpckit.server import RunningServer
from libs.settings import ServiceSettings
from tests.conftest import REPO
from tests.notes_service.app import NotesSettings, build_app

S = TypeVar("S", bound=ServiceSettings)


def notes_settings(
    *, database_url: str, kafka: str, key_set_file: str, topic_prefix: str, **extra: Any
) -> NotesSettings:
    return NotesSettings(
        grpc_port=0,
        database_url=database_url,
        kafka_bootstrap_servers=kafka,
        jwt_key_set_file=Path(key_set_file),
        kafka_topic_prefix=topic_prefix,
        **extra,
    )


@asynccontextmanager
async def running_app(build: Callable[[S], Awaitable[GrpcApp]], settings: S) -> AsyncIterator[RunningServer]:
    """A service's real app (migrations, topics, workers) served in-process on a free port."""
    server = RunningServer(await build(settings), settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def running_notes(settings: NotesSettings) -> AbstractAsyncContextManager[RunningServer]:
    return running_app(build_app, settings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn_notes(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The notes service as a real process (for signals); its log goes to the test's stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.notes_service"],
        cwd=REPO,
        env={**os.environ, **env},
    )
