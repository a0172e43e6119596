"""Apply migrations from the command line:

    python -m libs.database --schema notes_pingou --source libs/events/migrations --source svc/migrations

The database is named by DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from libs.database.migrations import migrate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.database", description="apply SQL migrations")
    parser.add_argument("--schema", required=True, action="append")
    parser.add_argument("--source", required=True, action="append", type=Path)
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        raise SystemExit("DATABASE_URL is not set")
    for schema in args.schema:
        applied = migrate(dsn, schema=schema, sources=args.source)
        print(f"{schema}: {len(applied)} migration(s) applied")


if __name__ == "__main__":
    main()
