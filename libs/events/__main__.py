"""Run one outbox relay by itself (the services embed theirs):

    python -m libs.events relay --schema segmentation_pingou

DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS name the database and the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from libs.events.relay import OutboxRelay, RelayConfig
from libs.logs import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.events", description="run one outbox relay")
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay")
    relay.add_argument("--schema", required=True)
    relay.add_argument("--batch-size", type=int, default=RelayConfig.batch_size)
    args = parser.parse_args()
    configure_logging(service="outbox-relay")
    runner = OutboxRelay(
        dsn=os.environ["DATABASE_URL"],
        schema=args.schema,
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        config=RelayConfig(batch_size=args.batch_size),
    )
    asyncio.run(runner.run())


if __name__ == "__main__":
    main()
