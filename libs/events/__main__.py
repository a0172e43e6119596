"""The outbox from the command line: run one relay by itself (the services embed theirs), and list and
replay the rows it set aside because Kafka refused them for good.

    python -m libs.events relay --schema segmentation_pingou
    python -m libs.events set-aside --schema segmentation_pingou
    python -m libs.events replay --schema segmentation_pingou --id 42 --id 43    (or --all)

DATABASE_URL (and for the relay KAFKA_BOOTSTRAP_SERVERS) name the database and the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import asyncpg
from rich.console import Console
from rich.table import Table

from libs.database.migrations import check_identifier
from libs.events.relay import OutboxRelay, RelayConfig
from libs.events.set_aside import replay, set_aside_rows
from libs.logs import configure_logging


async def _connect(schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(os.environ["DATABASE_URL"], server_settings={"search_path": check_identifier(schema)})


async def list_set_aside(schema: str, console: Console) -> int:
    connection = await _connect(schema)
    try:
        rows = await set_aside_rows(connection)
    finally:
        await connection.close()
    if not rows:
        console.print(f"no rows set aside in {schema}")
        return 0
    table = Table(title=f"outbox rows set aside in {schema}")
    for heading in ("id", "topic", "key", "event type", "attempts", "error", "since", "waiting behind"):
        table.add_column(heading)
    for row in rows:
        table.add_row(
            str(row.id),
            row.topic,
            row.key,
            row.event_type,
            str(row.attempts),
            row.error or "",
            row.since.isoformat(timespec="seconds"),
            str(row.waiting_behind),
        )
    console.print(table)
    console.print(f"replay with: python -m libs.events replay --schema {schema} --id N ... (or --all)")
    return 0


async def replay_set_aside(schema: str, ids: list[int] | None, console: Console) -> int:
    connection = await _connect(schema)
    try:
        replayed = await replay(connection, ids)
    finally:
        await connection.close()
    console.print(f"replayed {len(replayed)} row(s) in {schema}: {', '.join(map(str, replayed)) or '-'}")
    missing = sorted(set(ids or ()) - set(replayed))
    if missing:
        console.print(f"not set aside (delivered already, or never refused): {', '.join(map(str, missing))}")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m libs.events", description="the outbox relay and its set-aside rows"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay", help="run one outbox relay")
    relay.add_argument("--schema", required=True)
    relay.add_argument("--batch-size", type=int, default=RelayConfig.batch_size)
    listing = commands.add_parser("set-aside", help="list the rows Kafka refused for good")
    listing.add_argument("--schema", required=True)
    replaying = commands.add_parser("replay", help="put rows set aside back in line for the relay")
    replaying.add_argument("--schema", required=True)
    which = replaying.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, action="append", dest="ids", metavar="N")
    which.add_argument("--all", action="store_true")
    args = parser.parse_args()

    if args.command == "relay":
        configure_logging(service="outbox-relay")
        runner = OutboxRelay(
            dsn=os.environ["DATABASE_URL"],
            schema=args.schema,
            bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            config=RelayConfig(batch_size=args.batch_size),
        )
        asyncio.run(runner.run())
        return
    console = Console()
    try:
        if args.command == "set-aside":
            sys.exit(asyncio.run(list_set_aside(args.schema, console)))
        sys.exit(asyncio.run(replay_set_aside(args.schema, None if args.all else args.ids, console)))
    except asyncpg.UndefinedTableError:
        parser.exit(2, f"no outbox in schema {args.schema}\n")


if __name__ == "__main__":
    main()
