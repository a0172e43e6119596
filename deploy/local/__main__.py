"""The local platform in one command, used by `make up`, `make down`, `make status` and `make clean`:

    python -m deploy.local {up,down,status,clean} [--profile dev|test]

`up` starts PostgreSQL and Kafka (deploy/local/infra.py), makes the local keys (libs/auth/local.py), applies each
service's migrations and starts every service (deploy/local/services.py). `status` prints one line per
component: `<name> <host:port> <SERVING|NOT_SERVING|DOWN>`.
"""

from __future__ import annotations

import argparse
import sys

from deploy.local import infra, services


def up(profile: str) -> None:
    endpoints = infra.up(profile)
    data_dir = infra.data_dir(profile)
    env = services.local_env(data_dir, database_url=endpoints.database_url, kafka_bootstrap=endpoints.kafka_bootstrap)
    services.up_all(env, data_dir)
    status(profile)


def down(profile: str) -> None:
    services.down_all(infra.data_dir(profile))
    infra.down(profile)


def status(profile: str) -> None:
    for name, address, state in [*infra.status(profile), *services.status_all()]:
        print(f"{name} {address} {state}")


def clean(profile: str) -> None:
    services.down_all(infra.data_dir(profile))
    infra.clean(profile)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "clean"])
    parser.add_argument("--profile", default="dev", choices=sorted(infra.PROFILES))
    args = parser.parse_args()
    try:
        {"up": up, "down": down, "status": status, "clean": clean}[args.command](args.profile)
    except (infra.InfraError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
