"""The rows durable jobs set aside, from the command line (any service's schema: the table is the same):

    python -m libs.jobs set-aside --schema groupbuy_pingou [--job identity_check] [--all]
    python -m libs.jobs put-back --schema groupbuy_pingou --job identity_check --row KEY ...   (or --all)

`set-aside` lists the rows set aside with their errors (with --all, those put back since too); `put-back`
puts rows back in line, so that their job claims them again (one that fails again is set aside again,
one attempt more). DATABASE_URL names the database.
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
from libs.jobs.set_aside import SetAsideRows


async def _connect(schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(os.environ["DATABASE_URL"], server_settings={"search_path": check_identifier(schema)})


async def list_set_aside(schema: str, *, job: str | None, put_back_too: bool, console: Console) -> int:
    connection = await _connect(schema)
    try:
        rows = await SetAsideRows(connection).listing(job=job, put_back_too=put_back_too, limit=1000)
    finally:
        await connection.close()
    if not rows:
        console.print(f"no job rows set aside in {schema}")
        return 0
    table = Table(title=f"job rows set aside in {schema}")
    for heading in ("job", "row", "attempts", "error", "since", "put back"):
        table.add_column(heading)
    for row in rows:
        table.add_row(
            row.job,
            row.row_key,
            str(row.attempts),
            row.error,
            row.set_aside_at.isoformat(timespec="seconds"),
            row.put_back_at.isoformat(timespec="seconds") if row.put_back_at else "",
        )
    console.print(table)
    console.print(f"put back with: python -m libs.jobs put-back --schema {schema} --job JOB --row KEY ... (or --all)")
    return 0


async def put_back(schema: str, job: str, row_keys: list[str] | None, console: Console) -> int:
    connection = await _connect(schema)
    try:
        done = await SetAsideRows(connection).put_back(job, row_keys)
    finally:
        await connection.close()
    console.print(f"put back {len(done)} row(s) of {job} in {schema}: {', '.join(done) or '-'}")
    missing = sorted(set(row_keys or ()) - set(done))
    if missing:
        console.print(f"not set aside (settled already, or never refused): {', '.join(missing)}")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.jobs", description="the rows durable jobs set aside")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("set-aside", help="list the rows set aside, with their errors")
    listing.add_argument("--schema", required=True)
    listing.add_argument("--job", help="only this job's rows")
    listing.add_argument("--all", action="store_true", help="rows put back in line since, too")
    putting = commands.add_parser("put-back", help="put rows set aside back in line for their job")
    putting.add_argument("--schema", required=True)
    putting.add_argument("--job", required=True)
    which = putting.add_mutually_exclusive_group(required=True)
    which.add_argument("--row", action="append", dest="rows", metavar="KEY")
    which.add_argument("--all", action="store_true", help="every row of the job set aside")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        parser.exit(2, "DATABASE_URL is not set\n")
    console = Console()
    try:
        if args.command == "set-aside":
            sys.exit(asyncio.run(list_set_aside(args.schema, job=args.job, put_back_too=args.all, console=console)))
        sys.exit(asyncio.run(put_back(args.schema, args.job, None if args.all else args.rows, console)))
    except asyncpg.UndefinedTableError:
        parser.exit(2, f"no job_set_aside table in schema {args.schema} (its service's migrations not applied)\n")


if __name__ == "__main__":
    main()
