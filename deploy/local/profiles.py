"""What a profile is and where its files live: the dev and test profiles (ports, durability), the
endpoints a profile's servers answer at (or the external ones DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS
name), the layout of its data folder (including where its PostgreSQL cluster lives), and the lock that
serialises commands on one data folder. The folder itself is described in infra.py's docstring.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from deploy.local.processes import InfraError, _say

REPO_ROOT: Final = Path(__file__).resolve().parents[2]

HOST: Final = "127.0.0.1"
APP_ROLE: Final = "pingou"
APP_PASSWORD: Final = "pingou"  # noqa: S105 -- a loopback-only development cluster, not a secret
APP_DATABASE: Final = "pingou"

DATA_MARKER: Final = ".pingou-infra"
PG_LOCATION_FILE: Final = "postgres.location"
# Where a cluster goes when the postgres user cannot reach the data folder (see _place_cluster).
PG_FALLBACK_BASE: Final = Path("/var/tmp/pingou-platform")  # noqa: S108 -- root-owned, checked


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
