"""The profile's own PostgreSQL server: its binaries (Debian's package, installed when missing), the
cluster's creation and settings, starting and stopping it, and, at every `up`, the app's role and database.
Which user runs it and which folder it lives in are postgres_user.py's.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Final

# asyncpg ships no type information; `unused-ignore` keeps mypy quiet if stubs appear later.
import asyncpg  # type: ignore[import-untyped, unused-ignore]

from deploy.local.postgres_user import (
    _as_pg_user,
    _check_pg_user_can_write,
    _ensure_pg_os_user,
    _give_to_pg_user,
    _place_cluster,
)
from deploy.local.probes import PROBE_TIMEOUT_S, _probe_postgres, _require_free_port, _wait_until_ready
from deploy.local.processes import InfraError, _apt_install, _rotate_log, _run, _run_sync, _say
from deploy.local.profiles import (
    APP_DATABASE,
    APP_PASSWORD,
    APP_ROLE,
    HOST,
    Layout,
    Profile,
    _external_database_url,
    _local_database_url,
)

PG_SUPERUSER: Final = "postgres"
PG_READY_TIMEOUT_S: Final = 60.0


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
