"""Local infrastructure for development and tests: PostgreSQL and a single-node Kafka (KRaft).

Run from the repository root:

    .venv/bin/python -m deploy.local.infra {up,down,status,clean} [--profile dev|test]

The same operations are importable: up(profile) -> Endpoints, down(profile), status(profile),
clean(profile) and data_dir(profile) -> Path (the profile's data folder). There is no Docker
here: PostgreSQL comes from Debian's package (installed when missing) and runs as the
unprivileged `postgres` user, and Kafka's jars come from Maven Central through
deploy/local/kafka/pom.xml into a per-machine cache that every clone shares.

When DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS is set, that component is someone else's: `up` only
checks that it answers, and nothing here starts or stops it.

A profile's data folder (PINGOU_DATA_DIR if set, else <repo>/.data/<profile>/) holds:
    postgres/       the cluster (PGDATA), owned by the postgres user; its Unix socket too
    kafka/          server.properties, cluster.id, kafka.pid and data/ (the broker's log.dirs)
    logs/           postgres.log and kafka.log
    endpoints.env   DATABASE_URL=... and KAFKA_BOOTSTRAP_SERVERS=..., for other tooling to source
    .pingou-infra   marks the folder as ours (clean deletes nothing else) and serialises commands
    postgres.location  only when the cluster lives in the fallback folder below: its path

When root runs this and the postgres user cannot reach the data folder (a clone under /root, mode
0700, say: CI's case), `up` puts the cluster instead in a fallback folder it can reach,
/var/tmp/pingou-platform/<hash of the data folder's path>/<profile>/postgres; everything else stays
in the data folder, and `clean` deletes that fallback folder too.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import string
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar
from urllib.parse import urlsplit

# Neither package ships type information; `unused-ignore` keeps mypy quiet if stubs appear later.
import asyncpg  # type: ignore[import-untyped, unused-ignore]
from aiokafka.client import AIOKafkaClient  # type: ignore[import-untyped, unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

T = TypeVar("T")

_SPAWNED: list[subprocess.Popen[bytes]] = []  # see _kafka_spawn

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
KAFKA_FILES: Final = Path(__file__).resolve().parent / "kafka"
POM: Final = KAFKA_FILES / "pom.xml"
LOG4J: Final = KAFKA_FILES / "log4j.properties"
SERVER_TEMPLATE: Final = KAFKA_FILES / "server.properties.template"

HOST: Final = "127.0.0.1"
PG_OS_USER: Final = "postgres"
PG_SUPERUSER: Final = "postgres"
APP_ROLE: Final = "pingou"
APP_PASSWORD: Final = "pingou"  # noqa: S105 -- a loopback-only development cluster, not a secret
APP_DATABASE: Final = "pingou"

PROBE_TIMEOUT_S: Final = 3.0
EXTERNAL_WAIT_S: Final = 10.0
PG_READY_TIMEOUT_S: Final = 60.0
KAFKA_READY_TIMEOUT_S: Final = 120.0
KAFKA_STOP_TIMEOUT_S: Final = 60.0
LOG_ROTATE_BYTES: Final = 50 * 1024 * 1024
DATA_MARKER: Final = ".pingou-infra"
PG_LOCATION_FILE: Final = "postgres.location"
# Where a cluster goes when the postgres user cannot reach the data folder (see _place_cluster).
PG_FALLBACK_BASE: Final = Path("/var/tmp/pingou-platform")  # noqa: S108 -- root-owned, checked


class InfraError(Exception):
    """A step failed; the message says which one and where its log is."""


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    pg_port: int
    kafka_port: int
    controller_port: int
    # False trades crash safety for speed: fine for throwaway test data, never for dev data.
    durable: bool


PROFILES: Final = {
    # Every local port is below 32768, outside Linux's ephemeral range (32768-60999): a port in that range
    # can be held for a minute by some client connection's TIME_WAIT, and then a server cannot bind it.
    "dev": Profile("dev", pg_port=25432, kafka_port=19092, controller_port=19093, durable=True),
    "test": Profile("test", pg_port=25433, kafka_port=19192, controller_port=19193, durable=False),
}


@dataclasses.dataclass(frozen=True)
class Endpoints:
    database_url: str
    kafka_bootstrap: str

    def env_text(self) -> str:
        """KEY=value lines that both a shell (`set -a; . endpoints.env`) and dotenv can read."""
        return (
            f"DATABASE_URL={shlex.quote(self.database_url)}\n"
            f"KAFKA_BOOTSTRAP_SERVERS={shlex.quote(self.kafka_bootstrap)}\n"
        )


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a profile keeps its files: all in root, except the cluster when the postgres user
    cannot reach root (then pgdata is the fallback folder, see _place_cluster)."""

    root: Path
    pgdata: Path

    @property
    def marker(self) -> Path:
        return self.root / DATA_MARKER

    @property
    def default_pgdata(self) -> Path:
        return self.root / "postgres"

    @property
    def pg_location_file(self) -> Path:
        return self.root / PG_LOCATION_FILE

    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_data(self) -> Path:
        return self.kafka / "data"

    @property
    def server_properties(self) -> Path:
        return self.kafka / "server.properties"

    @property
    def cluster_id_file(self) -> Path:
        return self.kafka / "cluster.id"

    @property
    def kafka_pid_file(self) -> Path:
        return self.kafka / "kafka.pid"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pg_log(self) -> Path:
        return self.logs / "postgres.log"

    @property
    def kafka_log(self) -> Path:
        return self.logs / "kafka.log"

    @property
    def endpoints_file(self) -> Path:
        return self.root / "endpoints.env"


# --------------------------------------------------------------------------- public operations


def up(profile: str = "dev", *, restart: bool = False) -> Endpoints:
    """Starts what the profile needs (or reuses what already runs) and returns its endpoints. `restart`:
    the broker is started again after a stop (fault injection), so it keeps its data even on a throwaway
    profile."""
    prof, layout = _resolve(profile)
    _claim_data_dir(layout)
    with _locked(layout):
        external_kafka = _external_kafka(prof)
        # The broker's JVM boots while Postgres starts; its readiness is awaited afterwards.
        broker_pid = None if external_kafka else _kafka_launch(prof, layout, keep_data=restart)
        database_url = _postgres_up(prof, layout)
        kafka_bootstrap = external_kafka or _local_bootstrap(prof)
        _kafka_wait(kafka_bootstrap, layout, broker_pid)
        endpoints = Endpoints(database_url, kafka_bootstrap)
        _write_atomically(layout.endpoints_file, endpoints.env_text())
    return endpoints


def down(profile: str = "dev") -> None:
    """Stops what this profile's data folder started; data stays. External services are untouched.

    It stops the local components even when DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS is set,
    because tooling that sourced endpoints.env has them set to the local endpoints.
    """
    _, layout = _resolve(profile)
    if not layout.marker.exists():
        return  # nothing was ever started from this folder
    with _locked(layout):
        _kafka_stop(layout)
        _postgres_stop(layout)


def runs_locally(profile: str = "dev") -> tuple[bool, bool]:
    """(PostgreSQL, Kafka): whether each is this profile's own local server (not named by DATABASE_URL or
    KAFKA_BOOTSTRAP_SERVERS), and so may be stopped and started by the tools."""
    prof, _ = _resolve(profile)
    return _external_database_url(prof) is None, _external_kafka(prof) is None


def stop_kafka(profile: str = "dev") -> None:
    """Stops this profile's broker alone (SIGTERM, a clean shutdown); `up` starts it again. For fault
    injection (`make chaos`)."""
    _, layout = _resolve(profile)
    with _locked(layout):
        _kafka_stop(layout)


def stop_postgres(profile: str = "dev") -> None:
    """Stops this profile's PostgreSQL alone (fast shutdown: open sessions are ended); `up` starts it again.
    For fault injection (`make chaos`)."""
    _, layout = _resolve(profile)
    with _locked(layout):
        _postgres_stop(layout)


def status(profile: str = "dev") -> list[tuple[str, str, str]]:
    """(component, address, SERVING|DOWN) rows, each decided by a real client round trip."""
    prof, _ = _resolve(profile)
    database_url = _external_database_url(prof) or _local_database_url(prof)
    bootstrap = _external_kafka(prof) or _local_bootstrap(prof)

    async def probe_both() -> tuple[str | None, str | None]:
        pg, kafka = await asyncio.gather(_probe_postgres(database_url), _probe_kafka(bootstrap))
        return pg, kafka

    pg_problem, kafka_problem = _run_sync(probe_both())
    return [
        ("postgres", _url_address(database_url), _state(pg_problem)),
        ("kafka", bootstrap, _state(kafka_problem)),
    ]


def clean(profile: str = "dev") -> None:
    """down, then delete the profile's data folder and its fallback cluster folder, if any
    (the shared Kafka jar cache stays)."""
    _, layout = _resolve(profile)
    if layout.root.exists():
        if not layout.marker.exists() and any(layout.root.iterdir()):
            # PINGOU_DATA_DIR may point anywhere: delete only a folder that `up` made its own.
            raise InfraError(f"refusing to delete {layout.root}: it has no {DATA_MARKER} marker")
        down(profile)
        _say(f"deleting {layout.root}")
        shutil.rmtree(layout.root)
    # The fallback folder is named after this data folder, so it is ours even when the data
    # folder (and its postgres.location) is already gone.
    fallback = _fallback_pgdata(layout.root, profile)
    if fallback.exists():
        _postgres_stop(dataclasses.replace(layout, pgdata=fallback))  # down() did, unless root was gone
        _say(f"deleting {fallback}")
        shutil.rmtree(fallback)
        for parent in (fallback.parent, fallback.parent.parent):  # <hash>/<profile>, then <hash>
            with contextlib.suppress(OSError):
                parent.rmdir()  # only when empty: the other profile's folder may live there


def data_dir(profile: str = "dev") -> Path:
    """The profile's data folder (PINGOU_DATA_DIR if set, else <repo>/.data/<profile>); it may not
    exist yet. The PostgreSQL cluster may live outside it (see the module's docstring)."""
    return _resolve(profile)[1].root


# --------------------------------------------------------------------------- profile and folders


def _resolve(profile: str) -> tuple[Profile, Layout]:
    if profile not in PROFILES:
        raise InfraError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    override = os.environ.get("PINGOU_DATA_DIR")
    root = Path(override).resolve() if override else REPO_ROOT / ".data" / profile
    return PROFILES[profile], Layout(root, _pgdata_location(root, profile))


def _pgdata_location(root: Path, profile: str) -> Path:
    """Where this data folder's cluster is, or goes unless `up` places it elsewhere.

    That is root/postgres unless `up` put it in the fallback folder (_place_cluster), which
    postgres.location records; a cluster found only in the fallback folder counts too, in case
    that file was lost. A postgres.location naming any other folder (one copied along with the
    data folder from another checkout, say) is ignored: each data folder has its own cluster.
    """
    default, fallback = root / "postgres", _fallback_pgdata(root, profile)
    try:
        recorded = Path((root / PG_LOCATION_FILE).read_text().strip())
    except OSError:
        recorded = None
    if recorded == fallback or (_has_cluster(fallback) and not _has_cluster(default)):
        return fallback
    return default


def _fallback_pgdata(root: Path, profile: str) -> Path:
    """The cluster folder for a data folder the postgres user cannot reach: named after the
    data folder's absolute path, so every command (and every process) finds the same one."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return PG_FALLBACK_BASE / digest / profile / "postgres"


def _has_cluster(pgdata: Path) -> bool:
    """PG_VERSION marks a cluster (see _pg_init); an unreadable folder counts as none."""
    try:
        return (pgdata / "PG_VERSION").exists()
    except OSError:  # PermissionError: a non-root caller and the postgres user's 0700 folder
        return False


def _claim_data_dir(layout: Layout) -> None:
    """Creates the data folder, refusing to adopt a non-empty folder that `up` did not make."""
    layout.root.mkdir(parents=True, exist_ok=True)
    if not layout.marker.exists() and any(layout.root.iterdir()):
        raise InfraError(
            f"{layout.root} is not empty and was not made by this tool (no {DATA_MARKER}); "
            "point PINGOU_DATA_DIR at an empty or new folder"
        )
    layout.marker.touch()
    for folder in (layout.kafka, layout.logs):
        folder.mkdir(exist_ok=True)


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """Serialises commands on one profile, so two concurrent `up`s never start two brokers."""
    with _file_lock(layout.marker, f"the data folder {layout.root}"):
        yield


@contextlib.contextmanager
def _file_lock(path: Path, what: str) -> Iterator[None]:
    # Opened for append: creates the file if needed and never truncates it. Python opens it
    # close-on-exec, so the servers started under the lock do not inherit (and keep) it.
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for another command that is using {what} ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _external_database_url(prof: Profile) -> str | None:
    return _external("DATABASE_URL", _local_database_url(prof))


def _external_kafka(prof: Profile) -> str | None:
    return _external("KAFKA_BOOTSTRAP_SERVERS", _local_bootstrap(prof))


def _external(variable: str, local_value: str) -> str | None:
    """The variable's value if it names someone else's service, else None.

    A value equal to this profile's own endpoint comes from a sourced endpoints.env: that
    service is still ours to start.
    """
    value = os.environ.get(variable, "").strip()
    return value if value and value != local_value else None


def _local_database_url(prof: Profile) -> str:
    return f"postgresql://{APP_ROLE}:{APP_PASSWORD}@{HOST}:{prof.pg_port}/{APP_DATABASE}"


def _local_bootstrap(prof: Profile) -> str:
    return f"{HOST}:{prof.kafka_port}"


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_up(prof: Profile, layout: Layout) -> str:
    """Returns the DATABASE_URL, after starting the local cluster unless an external one is set."""
    external = _external_database_url(prof)
    if external:
        _say("DATABASE_URL is set: checking that PostgreSQL answers there (not starting one)")
        _run_sync(_wait_until_ready("PostgreSQL at DATABASE_URL", _probe_postgres, external))
        return external
    bin_dir = _pg_bin_dir(layout.pgdata)
    _ensure_pg_os_user()
    layout = _place_cluster(layout, prof)
    _pg_init(layout, bin_dir)
    _pg_configure(layout, prof)
    if _pg_running(bin_dir, layout.pgdata):
        _say(f"PostgreSQL already running on {HOST}:{prof.pg_port}")
    else:
        _pg_start(prof, layout, bin_dir)
    superuser_dsn = f"postgresql://{PG_SUPERUSER}@{HOST}:{prof.pg_port}/postgres"
    _run_sync(_pg_ready_with_app_database(superuser_dsn, layout))
    return _local_database_url(prof)


def _pg_bin_dir(pgdata: Path) -> Path:
    """The server binaries for this cluster: its own major version if it exists, else the newest."""
    version_file = pgdata / "PG_VERSION"
    if version_file.exists():
        major = version_file.read_text().strip()
        bin_dir = Path(f"/usr/lib/postgresql/{major}/bin")
        if not (bin_dir / "pg_ctl").exists():
            raise InfraError(
                f"the cluster in {pgdata} was made by PostgreSQL {major}, whose binaries are "
                f"missing: apt-get install postgresql-{major}, or run `clean` to start afresh"
            )
        return bin_dir
    if not _installed_pg_bin_dirs():
        _apt_install("postgresql")
    found = _installed_pg_bin_dirs()
    if not found:
        raise InfraError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return found[-1]


def _installed_pg_bin_dirs() -> list[Path]:
    """Debian keeps server binaries off PATH, one folder per major version; oldest first."""
    dirs = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").exists()]
    return sorted(dirs, key=lambda d: [int(part) for part in d.parent.name.split(".") if part.isdigit()])


def _ensure_pg_os_user() -> None:
    """Postgres refuses to run as root: as root, make sure the unprivileged user exists."""
    if os.geteuid() != 0:
        return  # an ordinary user runs the cluster as itself
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        _say(f"creating the system user {PG_OS_USER!r}")
        _run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_OS_USER,
            ],
            f"creating the system user {PG_OS_USER}",
        )


def _as_pg_user(command: Sequence[str]) -> list[str]:
    """The command as run by the postgres user when we are root (runuser execs, no shell)."""
    if os.geteuid() != 0:
        return list(command)
    return ["runuser", "-u", PG_OS_USER, "--", *command]


def _give_to_pg_user(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(PG_OS_USER)
        os.chown(path, account.pw_uid, account.pw_gid)


def _pg_env() -> dict[str, str]:
    """Our environment without a developer's PG* variables (PGPORT, PGDATA, ...), which would
    redirect the tools, and with a locale that exists on every Debian machine."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    return env


def _pg_init(layout: Layout, bin_dir: Path) -> None:
    """Creates the cluster once. A failed initdb removes what it made, so PG_VERSION marks a
    cluster (only an initdb killed midway leaves a broken one: `clean` then starts afresh)."""
    if (layout.pgdata / "PG_VERSION").exists():
        return
    _say(f"creating the PostgreSQL cluster in {layout.pgdata}")
    layout.pgdata.mkdir(mode=0o700, exist_ok=True)
    _give_to_pg_user(layout.pgdata)
    _check_pg_user_can_write(layout.pgdata)
    _run(
        _as_pg_user(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(layout.pgdata),
                "--username",
                PG_SUPERUSER,
                "--auth",
                "trust",  # local socket and 127.0.0.1 alike
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ]
        ),
        f"initdb of {layout.pgdata}",
        env=_pg_env(),
    )


def _place_cluster(layout: Layout, prof: Profile) -> Layout:
    """Decides, before the cluster exists, whether it goes in the data folder or, when the
    postgres user cannot reach that (a clone under /root, mode 0700), in the fallback folder.

    The choice is recorded in postgres.location (removed when the data folder is used), which
    _resolve reads, so down, status, clean and the next `up` find the same cluster.
    """
    if _has_cluster(layout.pgdata):  # placed by an earlier `up`
        if layout.pgdata != layout.default_pgdata and not layout.pg_location_file.exists():
            _write_atomically(layout.pg_location_file, f"{layout.pgdata}\n")  # it was lost
        return layout
    default = layout.default_pgdata
    if os.geteuid() != 0 or _pg_user_can_use_new_folder(default):
        layout.pg_location_file.unlink(missing_ok=True)
        return dataclasses.replace(layout, pgdata=default)
    fallback = _fallback_pgdata(layout.root, prof.name)
    _say(
        f"the {PG_OS_USER} user cannot reach {default} (a parent folder is not traversable for "
        f"it): the cluster goes in {fallback} instead"
    )
    _make_fallback_folder(fallback)
    _check_pg_user_can_write(fallback)
    _write_atomically(layout.pg_location_file, f"{fallback}\n")
    return dataclasses.replace(layout, pgdata=fallback)


def _pg_user_can_use_new_folder(pgdata: Path) -> bool:
    """Makes pgdata as _pg_init would and checks that the postgres user can write it; a folder
    made here in vain is removed again."""
    existed = pgdata.exists()
    pgdata.mkdir(mode=0o700, exist_ok=True)
    _give_to_pg_user(pgdata)
    if _pg_user_can_write(pgdata):
        return True
    if not existed:
        with contextlib.suppress(OSError):
            pgdata.rmdir()
    return False


def _make_fallback_folder(pgdata: Path) -> None:
    """Creates the fallback cluster folder for the postgres user, under parents that root owns
    and only root can write (mode 0755): /var/tmp is world-writable, so a parent someone else
    made first is refused rather than trusted."""
    try:
        for path in (PG_FALLBACK_BASE, pgdata.parent.parent, pgdata.parent):
            path.mkdir(mode=0o755, exist_ok=True)
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
                raise InfraError(f"{path} is not a folder that root owns")
            path.chmod(0o755)  # mkdir's mode went through the umask
        pgdata.mkdir(mode=0o700, exist_ok=True)
        if not stat.S_ISDIR(pgdata.lstat().st_mode):
            raise InfraError(f"{pgdata} is not a folder")
        _give_to_pg_user(pgdata)
    except (OSError, InfraError) as err:
        raise InfraError(
            f"the {PG_OS_USER} user cannot reach the data folder, and the fallback folder "
            f"{pgdata} cannot be made ({err}); set PINGOU_DATA_DIR to a folder it can reach "
            "(e.g. under /var/tmp)"
        ) from err


def _pg_user_can_write(folder: Path) -> bool:
    """Whether the postgres user can enter and write the folder (which needs every parent
    traversable); an ordinary user runs the cluster as itself, so for it always true."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(_as_pg_user(["test", "-w", str(folder), "-a", "-x", str(folder)]), cwd="/", check=False)
    return probe.returncode == 0


def _check_pg_user_can_write(folder: Path) -> None:
    """Fails early and clearly when a parent folder (say /root, mode 0700) blocks the user."""
    if not _pg_user_can_write(folder):
        raise InfraError(
            f"the {PG_OS_USER} user cannot write {folder}: a parent folder is not traversable "
            "for it; set PINGOU_DATA_DIR to a folder it can reach (e.g. under /var/tmp)"
        )


def _pg_configure(layout: Layout, prof: Profile) -> None:
    """(Re)writes our settings on every `up`, so a changed profile applies at the next start."""
    settings_file = layout.pgdata / "pingou.conf"
    lines = [f"{name} = {_pg_quote(value)}" for name, value in _pg_settings(prof, layout).items()]
    header = "# Written by deploy/local/infra.py on every `up`: change the profile there.\n"
    settings_file.write_text(header + "\n".join(lines) + "\n")
    _give_to_pg_user(settings_file)
    main_conf = layout.pgdata / "postgresql.conf"
    include = "include 'pingou.conf'"  # relative to postgresql.conf's folder
    if include not in main_conf.read_text():
        with main_conf.open("a") as conf:
            conf.write(f"\n{include}\n")


def _pg_settings(prof: Profile, layout: Layout) -> dict[str, str]:
    durable = "on" if prof.durable else "off"
    return {
        "listen_addresses": HOST,
        "port": str(prof.pg_port),
        "unix_socket_directories": str(_pg_socket_dir(layout)),
        "max_connections": "200",
        "shared_buffers": "256MB",
        "fsync": durable,
        "synchronous_commit": durable,
        "full_page_writes": durable,
    }


def _pg_quote(value: str) -> str:
    """A postgresql.conf string literal: single quotes, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _pg_socket_dir(layout: Layout) -> Path:
    """The socket lives with the data; a Unix socket path is limited to 107 bytes, so a very
    deep checkout falls back to the temp folder (the socket's name carries the port, so
    profiles do not collide there)."""
    if len(str(layout.pgdata / ".s.PGSQL.00000.lock")) <= 100:
        return layout.pgdata
    return Path(tempfile.gettempdir())


def _pg_running(bin_dir: Path, pgdata: Path) -> bool:
    """pg_ctl status: 0 when postmaster.pid names a live postmaster (a stale file counts as not)."""
    command = _as_pg_user([str(bin_dir / "pg_ctl"), "status", "--pgdata", str(pgdata)])
    result = subprocess.run(command, capture_output=True, cwd="/", env=_pg_env(), check=False)
    return result.returncode == 0


def _pg_start(prof: Profile, layout: Layout, bin_dir: Path) -> None:
    _require_free_port(prof.pg_port, "PostgreSQL", layout)
    _rotate_log(layout.pg_log)
    _say(f"starting PostgreSQL on {HOST}:{prof.pg_port} (log: {layout.pg_log})")
    # We open the log and hand it over as pg_ctl's stdout, which the server inherits (pg_ctl
    # without --log sends the server's output there): the postgres user need not reach the
    # data folder (see _place_cluster). pg_ctl's own progress lines land in the log too.
    with layout.pg_log.open("ab") as log:
        _run(
            _as_pg_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "--pgdata",
                    str(layout.pgdata),
                    "--wait",
                    "--timeout",
                    str(int(PG_READY_TIMEOUT_S)),
                ]
            ),
            "starting PostgreSQL",
            env=_pg_env(),
            log=layout.pg_log,
            detach=True,
            stdout=log,
        )


async def _pg_ready_with_app_database(superuser_dsn: str, layout: Layout) -> None:
    await _wait_until_ready("PostgreSQL", _probe_postgres, superuser_dsn, PG_READY_TIMEOUT_S, log=layout.pg_log)
    conn = await asyncpg.connect(superuser_dsn, timeout=PROBE_TIMEOUT_S)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE):
            _say(f"creating role {APP_ROLE!r}")
            await conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN CREATEDB PASSWORD '{APP_PASSWORD}'")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", APP_DATABASE):
            _say(f"creating database {APP_DATABASE!r}")
            await conn.execute(f"CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}")
    finally:
        await conn.close()


def _postgres_stop(layout: Layout) -> None:
    if not (layout.pgdata / "PG_VERSION").exists():
        return
    bin_dir = _pg_bin_dir(layout.pgdata)
    if not _pg_running(bin_dir, layout.pgdata):
        return
    _say("stopping PostgreSQL")
    _run(
        _as_pg_user(
            [
                str(bin_dir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(layout.pgdata),
                "--mode",
                "fast",
                "--wait",
                "--timeout",
                "60",
            ]
        ),
        "stopping PostgreSQL",
        env=_pg_env(),
        log=layout.pg_log,
    )


# --------------------------------------------------------------------------- Kafka


def _kafka_launch(prof: Profile, layout: Layout, *, keep_data: bool = False) -> int:
    """Returns the pid of this profile's broker, starting it (without waiting) if none runs."""
    pid = _kafka_pid(layout)
    if pid is not None:
        _say(f"Kafka already running (pid {pid}) on {_local_bootstrap(prof)}")
        return pid
    libs = _ensure_kafka_jars()
    _write_server_properties(prof, layout)
    _require_free_port(prof.kafka_port, "Kafka broker", layout)
    _require_free_port(prof.controller_port, "Kafka controller", layout)
    if not prof.durable and not keep_data:
        # A throwaway profile starts empty: every test module makes topics of its own, and a broker that
        # kept all of them from earlier runs starts slowly and needs ever more heap.
        shutil.rmtree(layout.kafka_data, ignore_errors=True)
    _kafka_format(layout, libs)
    pid = _kafka_spawn(layout, libs)
    _say(f"starting Kafka (pid {pid}) on {_local_bootstrap(prof)} (log: {layout.kafka_log})")
    return pid


def _kafka_wait(bootstrap: str, layout: Layout, broker_pid: int | None) -> None:
    if broker_pid is None:
        _say("KAFKA_BOOTSTRAP_SERVERS is set: checking that Kafka answers there (not starting one)")
        _run_sync(_wait_until_ready("Kafka at KAFKA_BOOTSTRAP_SERVERS", _probe_kafka, bootstrap))
        return
    _run_sync(
        _wait_until_ready(
            "Kafka",
            _probe_kafka,
            bootstrap,
            KAFKA_READY_TIMEOUT_S,
            log=layout.kafka_log,
            alive=lambda: _process_alive(broker_pid),
        )
    )


def _kafka_version() -> str:
    """The version pinned in pom.xml, the single source of truth; it also names the jar cache."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ElementTree.parse(POM).getroot()  # noqa: S314 -- our own file, not untrusted input
    node = pom.find("m:properties/m:kafka.version", namespace)
    if node is None or not node.text:
        raise InfraError(f"no <kafka.version> property in {POM}")
    return node.text.strip()


def _jar_cache() -> Path:
    """Per machine, not per clone: a fresh clone (CI's included) reuses the jars."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pingou-platform" / f"kafka-{_kafka_version()}"


def _ensure_kafka_jars() -> Path:
    """The folder of Kafka's runtime jars, fetched with Maven unless a complete copy exists."""
    cache = _jar_cache()
    libs, marker = cache / "libs", cache / "COMPLETE"
    # The marker holds the pom's digest and is written last: a half-finished download, or one
    # made from another dependency list, is redone.
    expected = hashlib.sha256(POM.read_bytes()).hexdigest()
    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / ".lock", f"the Kafka jar cache {cache}"):
        if marker.exists() and marker.read_text().strip() == expected:
            return libs
        _say(f"fetching the Kafka {_kafka_version()} jars from Maven Central into {libs}")
        marker.unlink(missing_ok=True)
        shutil.rmtree(libs, ignore_errors=True)
        _run(
            [
                _tool("mvn", "maven"),
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            "fetching the Kafka jars with Maven",
        )
        marker.write_text(expected + "\n")
    return libs


def _write_server_properties(prof: Profile, layout: Layout) -> None:
    template = string.Template(SERVER_TEMPLATE.read_text())
    text = template.substitute(
        broker_port=prof.kafka_port,
        controller_port=prof.controller_port,
        log_dir=layout.kafka_data,
    )
    layout.server_properties.write_text(text)


def _java(libs: Path, main_class: str, *args: str, jvm_options: Sequence[str] = ()) -> list[str]:
    # The JVM expands a classpath entry ending in '*' itself (a shell must not: no shell here).
    return [
        _tool("java", "openjdk-17-jre-headless"),
        *jvm_options,
        f"-Dlog4j.configuration={LOG4J.as_uri()}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]


def _kafka_format(layout: Layout, libs: Path) -> None:
    """Formats log.dirs once (KRaft needs a cluster id there before the first start)."""
    if (layout.kafka_data / "meta.properties").exists():
        return
    _say(f"formatting Kafka storage in {layout.kafka_data}")
    command = _java(
        libs,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        _kafka_cluster_id(layout, libs),
        "-c",
        str(layout.server_properties),
        "--ignore-formatted",
    )
    _run(command, "formatting Kafka storage (kafka.tools.StorageTool format)")


def _kafka_cluster_id(layout: Layout, libs: Path) -> str:
    """Generated once and remembered, so a re-format of the same folder keeps its identity."""
    if layout.cluster_id_file.exists():
        return layout.cluster_id_file.read_text().strip()
    output = _run(_java(libs, "kafka.tools.StorageTool", "random-uuid"), "generating a cluster id")
    cluster_id = output.strip().splitlines()[-1].strip()
    layout.cluster_id_file.write_text(cluster_id + "\n")
    return cluster_id


def _kafka_spawn(layout: Layout, libs: Path) -> int:
    """Starts the broker detached from us and records its pid.

    A new session keeps a terminal's Ctrl-C away from the broker, which is meant to outlive us.
    """
    command = _java(
        libs,
        "kafka.Kafka",
        str(layout.server_properties),
        # 1 GiB: a test broker holds every test module's topics (thousands of partitions) until it stops;
        # at 512 MiB a long-lived one ran out of heap.
        jvm_options=["-Xms256m", "-Xmx1g", "-Djava.awt.headless=true"],
    )
    _rotate_log(layout.kafka_log)
    with layout.kafka_log.open("ab") as log:
        # The log is appended across restarts: mark where this run begins.
        log.write(f"==== infra: starting Kafka at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        broker = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.kafka,  # where a JVM crash report (hs_err_pid*.log) lands
            start_new_session=True,
        )
    # A Popen object garbage-collected while its process runs warns "subprocess is still
    # running"; keeping it referenced avoids that when up() runs inside a test process.
    _SPAWNED.append(broker)
    layout.kafka_pid_file.write_text(f"{broker.pid}\n")
    return broker.pid


def _kafka_pid(layout: Layout) -> int | None:
    """The pid of the broker this folder started, or None; a stale pid file is removed."""
    try:
        pid = int(layout.kafka_pid_file.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        pid = 0  # a damaged file: treat as stale
    if pid > 0 and _process_alive(pid) and _is_our_broker(pid, layout):
        return pid
    layout.kafka_pid_file.unlink(missing_ok=True)
    return None


def _is_our_broker(pid: int, layout: Layout) -> bool:
    """After a SIGKILL or a reboot the pid may belong to another process: check its command."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in args and str(layout.server_properties).encode() in args


def _kafka_stop(layout: Layout) -> None:
    pid = _kafka_pid(layout)
    if pid is None:
        return
    _say(f"stopping Kafka (pid {pid})")
    os.kill(pid, signal.SIGTERM)  # the broker shuts down cleanly on SIGTERM
    if not _wait_for_exit(pid, KAFKA_STOP_TIMEOUT_S):
        _say(f"Kafka did not stop within {KAFKA_STOP_TIMEOUT_S:.0f} s: killing it")
        os.kill(pid, signal.SIGKILL)
        _wait_for_exit(pid, 10.0)
    layout.kafka_pid_file.unlink(missing_ok=True)


# --------------------------------------------------------------------------- readiness probes


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


# --------------------------------------------------------------------------- processes and files


def _run(
    command: Sequence[str],
    what: str,
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    detach: bool = False,
    stdout: BinaryIO | None = None,
) -> str:
    """Runs a command to completion and returns its stdout; on failure, says what failed.

    detach puts it in a new session, so a server it leaves behind (pg_ctl start) is out of
    reach of a terminal's Ctrl-C. stdout, when given, receives the command's output instead
    (which is then not returned).
    """
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        start_new_session=detach,
        check=False,
    )
    if result.returncode != 0:
        output = ((result.stdout or "") + result.stderr).strip()
        raise InfraError(
            f"{what} failed (exit {result.returncode}): {shlex.join(command)}\n"
            f"{_last_lines(output, 30)}{_log_excerpt(log)}"
        )
    return result.stdout or ""


def _tool(name: str, debian_package: str) -> str:
    """The path of a command, installing its Debian package when missing (fresh machines)."""
    path = shutil.which(name)
    if path is None:
        _apt_install(debian_package)
        path = shutil.which(name)
    if path is None:
        raise InfraError(f"{name} not found on PATH even after installing {debian_package}")
    return path


def _apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise InfraError(f"{package} is not installed: run `sudo apt-get install -y {package}`")
    _say(f"installing the Debian package {package} (this takes a minute)")
    _apt_update()
    _run(["apt-get", "install", "-y", package], f"apt-get install {package}", env=_apt_env())


@functools.cache
def _apt_update() -> None:
    """Once per run: a fresh machine's package lists are empty or old."""
    _run(["apt-get", "update"], "apt-get update", env=_apt_env())


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}  # never prompt (CI has no stdin)


def _process_alive(pid: int) -> bool:
    for child in _SPAWNED:
        if child.pid == pid:
            # up() ran in this very process, so the broker is our child: poll() reaps it once it
            # exits, where kill(pid, 0) would still find its zombie.
            return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, but someone else's
    return True


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _require_free_port(port: int, what: str, layout: Layout) -> None:
    """A port that answers although our own server is not running belongs to someone else:
    another clone's or another data folder's server, most likely."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1.0):
        raise InfraError(
            f"cannot start {what}: {HOST}:{port} is already in use by a process that the data "
            f"folder {layout.root} did not start (another clone's `up`?); stop it first"
        )


def _rotate_log(path: Path) -> None:
    # Logs are appended across restarts (the previous run's end explains a crash); one older
    # generation is kept so they stay bounded.
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))


def _log_excerpt(log: Path | None) -> str:
    if log is None:
        return ""
    return f"\n--- last lines of {log} ---\n{_last_lines(_read_tail(log), 40)}"


def _read_tail(path: Path, size: int = 64 * 1024) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            return handle.read().decode(errors="replace")
    except OSError as err:
        return f"(cannot read it: {err})"


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.splitlines()[-count:])


def _write_atomically(path: Path, text: str) -> None:
    # A reader that sources the file while `up` rewrites it sees the old or the new one, whole.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from code already inside an event loop (an async test fixture, say),
    where asyncio.run cannot nest: then the coroutine runs on a thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _say(message: str) -> None:
    # Progress goes to stderr: stdout carries only the results (endpoints, status lines).
    print(f"infra: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.infra",
        description="Local PostgreSQL and Kafka for development (dev) and tests (test).",
    )
    parser.add_argument("command", choices=["up", "down", "status", "clean"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        _dispatch(args.command, args.profile)
    except InfraError as err:
        print(f"infra: error: {err}", file=sys.stderr)
        return 1
    if args.command == "up":
        _say(f"up ({args.profile}) took {time.monotonic() - started:.1f} s")
    return 0


def _dispatch(command: str, profile: str) -> None:
    if command == "up":
        endpoints = up(profile)
        _say(f"endpoints written to {_resolve(profile)[1].endpoints_file}")
        print(endpoints.env_text(), end="")
    elif command == "down":
        down(profile)
    elif command == "status":
        for row in status(profile):
            print(" ".join(row))
    else:
        clean(profile)


if __name__ == "__main__":
    sys.exit(main())
