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

The parts live beside this file: profiles.py (profiles, the data folder's layout, endpoints, the lock),
postgres.py and postgres_user.py (the PostgreSQL server; the user that runs it and the folder it lives in),
kafka_broker.py (the broker's jars, storage, start and stop), probes.py (who answers where) and processes.py
(commands, packages, pids, logs). This module is their public face and the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.local.kafka_broker import _kafka_launch, _kafka_stop, _kafka_wait
from deploy.local.postgres import _postgres_stop, _postgres_up
from deploy.local.probes import _probe_kafka, _probe_postgres, _state, _url_address
from deploy.local.processes import InfraError, _run_sync, _say, _write_atomically
from deploy.local.profiles import (
    DATA_MARKER,
    PROFILES,
    Endpoints,
    Profile,
    _claim_data_dir,
    _external_database_url,
    _external_kafka,
    _fallback_pgdata,
    _local_bootstrap,
    _local_database_url,
    _locked,
    _resolve,
)

__all__ = [
    "PROFILES",
    "Endpoints",
    "InfraError",
    "Profile",
    "clean",
    "data_dir",
    "down",
    "main",
    "runs_locally",
    "status",
    "stop_kafka",
    "stop_postgres",
    "up",
]

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
