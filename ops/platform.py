"""The running local platform as its tools see it: where each service answers, its database and broker,
the development keys that mint tokens, and its data folder. `running(profile)` starts the platform of
`make up` when it does not run (`up` reuses whatever runs already)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.local import infra, services
from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine


@dataclass(frozen=True)
class LocalPlatform:
    addresses: Mapping[str, str]  # service name -> host:port
    database_url: str
    kafka_bootstrap: str
    keys: LocalKeys  # the development keys: people's tokens by the issuer key, service identities by theirs
    data_dir: Path
    topic_prefix: str = ""

    def token(self, subject: str, line: BusinessLine, *roles: Role, ttl_seconds: int = 7200) -> str:
        return self.keys.mint(subject=subject, line=line, roles=roles, ttl_seconds=ttl_seconds)


def serving(specs: Iterable[services.ServiceSpec] = services.SERVICES) -> bool:
    return all(services.probe(spec) == "SERVING" for spec in specs)


def endpoints(data_dir: Path) -> dict[str, str]:
    """The profile's endpoints.env (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS) as a mapping."""
    text = (data_dir / "endpoints.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def running(profile: str) -> LocalPlatform:
    """The platform of `make up`, started here unless every service already answers SERVING."""
    if not serving():
        subprocess.run([sys.executable, "-m", "deploy.local", "up", "--profile", profile], check=True)
    data_dir = infra.data_dir(profile)
    found = endpoints(data_dir)
    return LocalPlatform(
        addresses={spec.name: f"{services.HOST}:{spec.port}" for spec in services.SERVICES},
        database_url=found["DATABASE_URL"],
        kafka_bootstrap=found["KAFKA_BOOTSTRAP_SERVERS"],
        keys=LocalKeys(data_dir / "keys"),
        data_dir=data_dir,
    )
