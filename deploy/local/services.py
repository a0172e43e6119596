"""Starting, stopping and probing the platform's service processes on one machine (`make up`).

Every service is a Python package with `python -m <module> migrate` (apply its migrations, exit), maybe
more set-up steps (`seed`: demo data), and `python -m <module>` (serve until SIGTERM). Processes are
detached, with a pid file and a log file in the profile's data folder; `up` reuses a process that is
still alive, `down` sends SIGTERM and waits for the graceful shutdown. Status comes from the gRPC
health protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from libs.auth.local import LocalKeys
from libs.core.paging import make_page_token_key

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str  # `python -m <module>` serves; `python -m <module> <step>` runs a set-up step
    port: int
    metrics_port: int | None = None
    setup: tuple[str, ...] = ("migrate",)  # run in order before the service starts


# The product services, in start order. Each issue that adds a service adds its line here. Ports are below
# 32768, outside the ephemeral range, as infra.py explains.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("catalog", "services.catalog", port=20051, metrics_port=9151, setup=("migrate", "seed")),
    ServiceSpec("segmentation", "services.segmentation", port=20053, metrics_port=9153),
    ServiceSpec("membership", "services.membership", port=20054, metrics_port=9154),
    ServiceSpec("order", "services.order", port=20055, metrics_port=9155),
    ServiceSpec("groupbuy", "services.groupbuy", port=20052, metrics_port=9152),
    ServiceSpec("analytics", "services.analytics", port=20056, metrics_port=9156),  # reads every topic: last
)


# Callers from outside the platform that hold a service identity of their own: the payment provider's
# adapter (confirms payments, reports refunds, sells PLUS) and the account system (registers users and
# links their identities). Locally the simulator and the tests play them.
CLIENT_IDENTITIES: tuple[str, ...] = ("payments", "accounts")


def identities(specs: Sequence[ServiceSpec] = SERVICES) -> tuple[str, ...]:
    """Every service identity of a local platform: one signing key each."""
    return (*(spec.name for spec in specs), *CLIENT_IDENTITIES)


def port_of(name: str) -> int:
    """The local port of a service, for the services that call it."""
    return next(spec.port for spec in SERVICES if spec.name == name)


def _pid_file(data_dir: Path, spec: ServiceSpec) -> Path:
    return data_dir / "run" / f"{spec.name}.pid"


def _log_file(data_dir: Path, spec: ServiceSpec) -> Path:
    return data_dir / "logs" / f"{spec.name}.log"


def _alive_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return pid  # no /proc to ask: the signal said it lives
    if state in ("Z", "X"):
        return None  # exited, not yet reaped by its parent
    if command and b"python" not in command:
        return None  # the pid was reused by something else
    # An empty command line is a process in the middle of exec (just started): alive.
    return pid


def pid_of(spec: ServiceSpec, data_dir: Path) -> int | None:
    """The pid of the service's running process, or None."""
    return _alive_pid(_pid_file(data_dir, spec))


def keys(data_dir: Path) -> LocalKeys:
    """The local keys: the issuer's (`make token`, the CLI), one per service identity, and the key set
    trusting them (services get the key set and their own key only)."""
    return LocalKeys.make(data_dir / "keys", identities())


def identity_salt(data_dir: Path) -> str:
    """The local salt of identity-link hashes, made once and kept with the data it hashes."""
    path = data_dir / "keys" / "identity-link.salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def page_token_key(data_dir: Path) -> Path:
    """The local page-token key (HMAC), made once: a new one would void the page tokens clients hold."""
    return make_page_token_key(data_dir / "keys" / "page-token.key")


def local_env(data_dir: Path, *, database_url: str, kafka_bootstrap: str) -> dict[str, str]:
    """The environment of a local platform's services (`platform_env`) with the profile's own keys and salt."""
    return platform_env(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        keys=keys(data_dir),
        identity_salt=identity_salt(data_dir),
        page_token_key=page_token_key(data_dir),
    )


def platform_env(
    *,
    database_url: str,
    kafka_bootstrap: str,
    keys: LocalKeys,
    identity_salt: str,
    page_token_key: Path,
    specs: Sequence[ServiceSpec] = SERVICES,
) -> dict[str, str]:
    """What every service process of one platform is given: its infrastructure, the trusted key set, and
    where the other services answer (`<NAME>_ADDRESS`, from the specs' ports)."""
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "JWT_KEY_SET_FILE": str(keys.key_set_file),
        "IDENTITY_LINK_SALT": identity_salt,
        # One page-token key for the platform: each service signs its own name into its tokens.
        "PAGE_TOKEN_KEY_FILE": str(page_token_key),
        **{f"{spec.name.upper()}_ADDRESS": f"{HOST}:{spec.port}" for spec in specs},
    }


def service_env(spec: ServiceSpec, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of one service's processes: the platform's, its name and port, and its own signing
    key (the one beside the key set for its name: each process is given only its own)."""
    env = {**os.environ, **base, "SERVICE_NAME": spec.name, "GRPC_HOST": HOST, "GRPC_PORT": str(spec.port)}
    with contextlib.suppress(ValueError):  # a process with no identity of its own (the bench's echo) calls no one
        env["SERVICE_SIGNING_KEY_FILE"] = str(
            LocalKeys(Path(base["JWT_KEY_SET_FILE"]).parent).service_key_file(spec.name)
        )
    if spec.metrics_port is not None:
        env["METRICS_PORT"] = str(spec.metrics_port)
    return env


def set_up(spec: ServiceSpec, env: Mapping[str, str]) -> None:
    """The service's set-up steps (migrations, demo data), each a `python -m <module> <step>` run."""
    for step in spec.setup:
        result = subprocess.run(
            [sys.executable, "-m", spec.module, step],
            cwd=REPO_ROOT,
            env=service_env(spec, env),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{spec.name}: `{step}` failed:\n{result.stderr[-4000:]}")


def start(spec: ServiceSpec, env: Mapping[str, str], data_dir: Path, *, ready_timeout: float = 60.0) -> int:
    """Start the service unless it runs already; wait until its health check says SERVING."""
    pid_file = _pid_file(data_dir, spec)
    pid = _alive_pid(pid_file)
    if pid is None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        log = _log_file(data_dir, spec)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", spec.module],
                cwd=REPO_ROOT,
                env=service_env(spec, env),
                stdout=output,
                stderr=output,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pid = process.pid
        pid_file.write_text(str(pid))
    deadline = time.monotonic() + ready_timeout
    while probe(spec) != "SERVING":
        if _alive_pid(pid_file) is None:
            raise RuntimeError(f"{spec.name} exited during start; see {_log_file(data_dir, spec)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{spec.name} not SERVING after {ready_timeout:.0f}s; see {_log_file(data_dir, spec)}")
        time.sleep(0.2)
    return pid


def stop(spec: ServiceSpec, data_dir: Path, *, timeout: float = 30.0) -> None:
    """SIGTERM (graceful: drain in-flight calls), then SIGKILL if it does not exit in time."""
    pid_file = _pid_file(data_dir, spec)
    pid = _alive_pid(pid_file)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive_pid(pid_file) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive_pid(pid_file) is not None:
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def probe(spec: ServiceSpec, timeout: float = 2.0) -> str:
    """SERVING, NOT_SERVING (answers but not ready) or DOWN (no answer), by the gRPC health protocol."""
    return asyncio.run(health(spec, timeout))


async def health(spec: ServiceSpec, deadline_s: float = 2.0) -> str:
    """`probe`, from inside an event loop."""
    async with grpc.aio.insecure_channel(f"{HOST}:{spec.port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=deadline_s)
        except grpc.aio.AioRpcError:
            return "DOWN"
        return "SERVING" if reply.status == health_pb2.HealthCheckResponse.SERVING else "NOT_SERVING"


def up_all(env: Mapping[str, str], data_dir: Path, specs: Sequence[ServiceSpec] = SERVICES) -> None:
    for spec in specs:
        set_up(spec, env)
        start(spec, env, data_dir)


def down_all(data_dir: Path, specs: Sequence[ServiceSpec] = SERVICES) -> None:
    for spec in reversed(specs):
        stop(spec, data_dir)


def status_all(specs: Sequence[ServiceSpec] = SERVICES) -> list[tuple[str, str, str]]:
    return [(spec.name, f"{HOST}:{spec.port}", probe(spec)) for spec in specs]
