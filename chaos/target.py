"""What a chaos run may break, and how it is put right: the platform's service processes (their pid files
and start environment, deploy/local/services.py) and, when they are this profile's own local servers, its
Kafka broker and PostgreSQL (deploy/local/infra.py). Every process signalled here was started on this
machine by `make up` (or by the test that runs the harness): nothing beyond loopback is touched."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from deploy.local import infra, services
from libs.auth.local import LocalKeys

EXIT_WAIT_S = 10.0


@dataclass(frozen=True)
class Target:
    profile: str  # the infra profile whose broker and database may be restarted
    data_dir: Path  # the services' pid files (run/) and logs (logs/)
    env: Mapping[str, str]  # what each service process is started with
    specs: Sequence[services.ServiceSpec]
    database_url: str
    kafka_bootstrap: str
    keys: LocalKeys  # what the load's actors mint their tokens with
    topic_prefix: str = ""

    def spec(self, name: str) -> services.ServiceSpec:
        return next(spec for spec in self.specs if spec.name == name)

    @property
    def infra_is_local(self) -> tuple[bool, bool]:
        """(PostgreSQL, Kafka): whether each may be stopped and started here."""
        return infra.runs_locally(self.profile)

    async def kill(self, name: str) -> None:
        """SIGKILL: no drain, no goodbye; its relays, consumers and jobs die mid-work with it."""
        spec = self.spec(name)
        pid = services.pid_of(spec, self.data_dir)
        if pid is None:
            raise RuntimeError(f"{name} is not running: nothing to kill")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + EXIT_WAIT_S
        while services.pid_of(spec, self.data_dir) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} (pid {pid}) outlived SIGKILL")
            await asyncio.sleep(0.05)

    async def start(self, name: str) -> None:
        """Starts the service and waits until it answers SERVING."""
        await asyncio.to_thread(services.start, self.spec(name), self.env, self.data_dir)

    async def terminate(self, name: str) -> None:
        """SIGTERM: NOT_SERVING, in-flight calls drained, workers stopped, exit."""
        await asyncio.to_thread(services.stop, self.spec(name), self.data_dir)

    async def stop_broker(self) -> None:
        await asyncio.to_thread(infra.stop_kafka, self.profile)

    async def stop_database(self) -> None:
        await asyncio.to_thread(infra.stop_postgres, self.profile)

    async def start_infra(self) -> None:
        """Starts whatever of the broker and the database is down, and waits until both answer."""
        await asyncio.to_thread(partial(infra.up, self.profile, restart=True))

    async def serving(self) -> bool:
        states = await asyncio.gather(*(services.health(spec, 1.0) for spec in self.specs))
        return all(state == "SERVING" for state in states)
