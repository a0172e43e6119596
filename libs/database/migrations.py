"""Versioned SQL migrations applied with yoyo-migrations, one schema at a time.

Each schema keeps its own yoyo bookkeeping tables, so the same migration files (the outbox and inbox of
libs/events, a service's per-line tables) are applied once to each line's schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from yoyo import get_backend, read_migrations

from libs.core import BusinessLine

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


def schema_name(service: str, line: BusinessLine | None = None) -> str:
    """`catalog` for data shared by both lines, `segmentation_pingou` for one line's data."""
    return check_identifier(service if line is None else f"{service}_{line.value}")


def _yoyo_uri(dsn: str, schema: str) -> str:
    parts = urlsplit(dsn)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "schema"]
    query.append(("schema", schema))
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), parts.fragment))


def _ensure_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        # Serialise concurrent first starts: CREATE SCHEMA IF NOT EXISTS can still race to a unique error.
        connection.execute("SELECT pg_advisory_lock(hashtext('pingou.create_schema'))")
        try:
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext('pingou.create_schema'))")


def migrate(dsn: str, *, schema: str, sources: Sequence[Path]) -> list[str]:
    """Create `schema` if needed and apply the migrations of `sources` not yet applied there, in
    order, under yoyo's lock. Returns the ids applied (empty when the schema was up to date)."""
    check_identifier(schema)
    _ensure_schema(dsn, schema)
    backend = get_backend(_yoyo_uri(dsn, schema))
    migrations = read_migrations(*(str(source) for source in sources))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [migration.id for migration in pending]


def migrate_service(
    dsn: str,
    service: str,
    *,
    lines: Iterable[BusinessLine],
    line_sources: Sequence[Path],
    shared_schema: str | None = None,
    shared_sources: Sequence[Path] = (),
) -> None:
    """A service's schemas: the one both lines share first (where the service has one), then each line's
    (`<service>_<line>`), every one from its own migration folders."""
    if shared_schema is not None:
        migrate(dsn, schema=shared_schema, sources=shared_sources)
    for line in lines:
        migrate(dsn, schema=schema_name(service, line), sources=line_sources)
