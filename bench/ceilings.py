"""The pgbench ceiling of a JoinGroup: what PostgreSQL alone does with the SQL one join commits.

`pgbench_join` migrates a scratch database with the services' own `python -m services.<name> migrate`,
seeds it (bench/pgbench/setup.sql) and lets pgbench run the join script (`join_script`): groupbuy's seat hold
(the answer: one statement that also takes the seat's unit from groupbuy's allotment) and the order
service's transaction for the seat's SeatHeld, all that is committed per join, with no gRPC, Python or
Kafka in the way. Then the seat hold alone (join_groupbuy.sql): the answer path's ceiling. Catalog is no
longer on a join's path (groupbuy leases stock from it in blocks, rarely): its ReserveStock
(join_catalog.sql) is run only on its own, with `per_service`, to compare with. The scratch database is
dropped afterwards, whatever happened.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from deploy.local import services
from libs.auth.local import LocalKeys
from libs.core.paging import make_page_token_key

SCRIPTS = Path(__file__).resolve().parent / "pgbench"
REPO_ROOT = Path(__file__).resolve().parents[1]
SCRATCH_DATABASE = "pingou_pgbench"
SEEDED_SKUS = 8  # setup.sql's sku-1 .. sku-8
# The services whose tables a join writes (groupbuy, order), and catalog for join_catalog.sql.
MIGRATED = ("catalog", "order", "groupbuy")
SEAT_HOLD = "join_groupbuy.sql"  # the answer path: run alone after every join run (seat_tps)
# Each run alone with `per_service` (<name>_tps, <name>_latency_ms_avg); groupbuy's is the seat-hold run.
PER_SERVICE = {"order": "join_order.sql", "catalog": "join_catalog.sql"}
VARIABLES = "variables.sql"  # the `\set` lines every script starts with
ORDER_BATCH_CLAIM = "order_batch_claim.sql"  # a batch's inbox claim, for ORDER_BATCH_EVENTS events
ORDER_BATCH_EVENTS = 50  # the consumer's batch: 50 events a transaction
# A partition's batches are applied one at a time, by the one consumer that owns it: at most as many at
# once as groupbuy's topic has partitions (libs/events/topics.py), whatever `clients` says.
ORDER_BATCH_CLIENTS = 3

# What one run wrote, read before and after it. Nothing in the join script rolls back (take_allotment waits
# for a held bucket rather than giving up): rolled-back transactions would be a sign of trouble.
_COUNTS = """SELECT
    (SELECT count(*) FROM groupbuy_pingou.seats WHERE NOT leader) AS seats,
    (SELECT count(*) FROM order_pingou.orders) AS orders,
    (SELECT coalesce(sum(available), 0) FROM groupbuy_pingou.allotments) AS allotted,
    (SELECT count(DISTINCT g.sku_id) FROM groupbuy_pingou.seats s JOIN groupbuy_pingou.groups g USING (group_id)
     WHERE NOT s.leader) AS skus,
    (SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()) AS rollbacks"""
_OTHER_BACKENDS = """SELECT count(*) AS n FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"""


@dataclass(frozen=True)
class PgbenchRun:
    transactions: int
    tps: float
    latency_ms_avg: float
    latency_ms_p99: float


def pgbench_join(
    database_url_admin: str,
    *,
    clients: int = 32,
    seconds: float = 10.0,
    hot_sku: bool = False,
    per_service: bool = False,
    database: str = SCRATCH_DATABASE,
) -> dict[str, float]:
    """Joins per second (tps: one pgbench transaction is one join's seat hold and its order's transaction)
    and their latency, with `clients` connections for `seconds` (whole seconds, pgbench's -T). `hot_sku`
    puts every join on one SKU (its 10,000 groups and 8 allotment buckets) instead of eight. The counts
    say what was written: seats, orders and units (taken from the allotment) equal the transactions when
    every join went through; stock_contended counts rolled-back transactions (none expected). seat_tps
    (and seat_latency_ms_avg, seat_latency_ms_p99) is the seat hold alone for `seconds`: the ceiling of
    the answer path. `per_service` adds the order's and catalog's transactions run alone (<name>_tps,
    <name>_latency_ms_avg; groupbuy_* are the seat hold's) and the order's batches of 50 events, run
    by at most ORDER_BATCH_CLIENTS clients (order_batch_events_per_s, and order_batch_ms_per_event: a
    batch's latency over its events)."""
    url = _with_database(database_url_admin, database)
    _recreate(database_url_admin, database)
    try:
        _migrate(url)
        with psycopg.connect(url) as connection:
            connection.execute((SCRIPTS / "setup.sql").read_text())  # one multi-statement string
        skus = 1 if hot_sku else SEEDED_SKUS
        before = _counts(url)
        join = _pgbench(url, join_script(), clients=clients, seconds=seconds, skus=skus)
        after = _counts(url)
        written = {key: value - before[key] for key, value in after.items()}
        result = {
            "tps": join.tps,
            "latency_ms_avg": join.latency_ms_avg,
            "latency_ms_p99": join.latency_ms_p99,
            "transactions": float(join.transactions),
            "seats": written["seats"],
            "orders": written["orders"],
            "units": -written["allotted"],
            "skus": after["skus"],
            "stock_contended": written["rollbacks"],
        }
        seat = _pgbench(url, script(SEAT_HOLD), clients=clients, seconds=seconds, skus=skus)
        held = _counts(url)["seats"] - after["seats"]
        if held != seat.transactions:  # a hold that found its group full is cheaper: not the ceiling
            raise RuntimeError(f"{SEAT_HOLD}: {seat.transactions} transactions held {held:.0f} seats")
        result |= {
            "seat_tps": seat.tps,
            "seat_latency_ms_avg": seat.latency_ms_avg,
            "seat_latency_ms_p99": seat.latency_ms_p99,
        }
        if per_service:
            result |= {"groupbuy_tps": seat.tps, "groupbuy_latency_ms_avg": seat.latency_ms_avg}
            for name, part in PER_SERVICE.items():
                alone = _pgbench(url, script(part), clients=clients, seconds=seconds, skus=skus)
                result[f"{name}_tps"] = alone.tps
                result[f"{name}_latency_ms_avg"] = alone.latency_ms_avg
            batch = _pgbench(
                url, order_batch_script(), clients=min(clients, ORDER_BATCH_CLIENTS), seconds=seconds, skus=skus
            )
            result["order_batch_events_per_s"] = batch.tps * ORDER_BATCH_EVENTS
            result["order_batch_ms_per_event"] = batch.latency_ms_avg / ORDER_BATCH_EVENTS
        return result
    finally:
        _drop(database_url_admin, database)


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _recreate(admin_url: str, database: str) -> None:
    _drop(admin_url, database)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _drop(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        for attempt in range(50):
            try:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
                return
            except psycopg.errors.InsufficientPrivilege:
                # An autovacuum worker (a superuser's process) may be in the database: FORCE cannot end it
                # for a non-superuser owner, but it leaves on its own within moments.
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError(f"could not drop the scratch database {database}")


def _migrate(url: str) -> None:
    """Each service's own `migrate` step, with the environment `make up` gives it. The step reads (and
    checks) all of its settings but talks to PostgreSQL only: the key files are throwaway ones."""
    specs = {spec.name: spec for spec in services.SERVICES}
    with tempfile.TemporaryDirectory(prefix="pgbench-keys-") as folder:
        keys = LocalKeys.make(Path(folder), services.identities())
        base = {
            "DATABASE_URL": url,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never contacted by `migrate`
            "JWT_KEY_SET_FILE": str(keys.key_set_file),
            "PAGE_TOKEN_KEY_FILE": str(make_page_token_key(Path(folder) / "page-token.key")),
            **{
                f"{name.upper()}_ADDRESS": f"{services.HOST}:{services.port_of(name)}"
                for name in ("catalog", "order", "segmentation", "membership")
            },
        }
        for name in MIGRATED:
            spec = specs[name]
            done = subprocess.run(
                [sys.executable, "-m", spec.module, "migrate"],
                cwd=REPO_ROOT,
                env=services.service_env(spec, base),
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{name}: `migrate` failed:\n{done.stderr[-4000:]}")


def _counts(url: str) -> dict[str, float]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as connection:
        # A backend flushes its statistics as it exits, which may be after pgbench has: wait for them to go.
        for _ in range(200):
            others = connection.execute(_OTHER_BACKENDS).fetchone()
            if not others or not others["n"]:
                break
            time.sleep(0.05)
        row = connection.execute(_COUNTS).fetchone()
    assert row is not None
    return {name: float(value) for name, value in row.items()}


def script(*parts: str) -> str:
    """A pgbench script: the shared variables, then each part's statements (files of bench/pgbench)."""
    return "".join((SCRIPTS / name).read_text() for name in (VARIABLES, *parts))


def body(text: str) -> str:
    """A script without its comments and variables: the statements and the meta-commands around them."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(("--", "\\set")))


def statements(text: str) -> list[str]:
    """A script's statements, each ending with its semicolon (each ends at the end of a line)."""
    return [f"{statement};\n" for statement in body(text).split(";\n") if statement.strip()]


def join_script() -> str:
    """One join's SQL as one pgbench transaction, in the order the platform commits it: groupbuy's seat
    hold (the answer: one statement, its own implicit transaction), then the order service's transaction
    for that seat's SeatHeld. Both share the variables, so they name the same group, seat, user and order.
    Catalog is no longer on a join's path (groupbuy leases stock from it in blocks, rarely)."""
    return script(SEAT_HOLD, "join_order.sql")


def order_batch_script() -> str:
    """What the order service commits for a polled batch of SeatHeld events (`_apply_together`): one
    transaction, one inbox claim for all, then join_order.sql's handler statements once per event, event n
    with its own ids (its join is :join || '-n'). One pgbench transaction is ORDER_BATCH_EVENTS events."""
    handler = statements((SCRIPTS / "join_order.sql").read_text())[2:-1]
    events = [
        statement.replace(":join", f":join || '-{n}'")
        for n in range(1, ORDER_BATCH_EVENTS + 1)
        for statement in handler
    ]
    return "".join([script(), "BEGIN;\n", *statements(script(ORDER_BATCH_CLAIM)), *events, "COMMIT;\n"])


def _pgbench(url: str, text: str, *, clients: int, seconds: float, skus: int) -> PgbenchRun:
    with tempfile.TemporaryDirectory(prefix="pgbench-log-") as folder:
        script_file = Path(folder) / "script.sql"
        script_file.write_text(text)
        command = [
            _pgbench_binary(),
            "-n",  # no vacuum of pgbench's own tables: there are none
            "-M", "prepared",
            "-c", str(clients),
            "-j", str(min(2, clients)),
            "-T", str(max(1, round(seconds))),
            "-D", f"skus={skus}",
            "-f", str(script_file),
            "--log", f"--log-prefix={folder}/tx",
        ]  # fmt: skip
        done = subprocess.run(command, env=_libpq_env(url), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr[-4000:]}\n{text[:2000]}")
        latencies = sorted(_logged_latencies_us(Path(folder)))
    return PgbenchRun(
        transactions=int(_figure(done.stdout, r"number of transactions actually processed: (\d+)")),
        tps=_figure(done.stdout, r"tps = ([\d.]+) \(without initial connection time\)"),
        latency_ms_avg=_figure(done.stdout, r"latency average = ([\d.]+) ms"),
        latency_ms_p99=latencies[math.ceil(0.99 * len(latencies)) - 1] / 1000 if latencies else math.nan,
    )


def _logged_latencies_us(folder: Path) -> list[int]:
    """pgbench's per-transaction log (one file per thread): `client transaction latency_us script ...`."""
    return [int(line.split()[2]) for log in folder.glob("tx.*") for line in log.read_text().splitlines() if line]


def _figure(output: str, pattern: str) -> float:
    found = re.search(pattern, output)
    if found is None:
        raise RuntimeError(f"pgbench printed no {pattern!r}:\n{output[-2000:]}")
    return float(found.group(1))


def _libpq_env(url: str) -> Mapping[str, str]:
    """The connection as libpq variables, so the password is not on pgbench's command line."""
    parts = urlsplit(url)
    given = {
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port) if parts.port else None,
        "PGUSER": unquote(parts.username) if parts.username else None,
        "PGPASSWORD": unquote(parts.password) if parts.password else None,
        "PGDATABASE": unquote(parts.path.lstrip("/")),
    }
    return {**os.environ, **{key: value for key, value in given.items() if value}}


def _pgbench_binary() -> str:
    """On PATH, else where Debian keeps the server's tools: /usr/lib/postgresql/<major>/bin (newest)."""
    on_path = shutil.which("pgbench")
    if on_path:
        return on_path
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise RuntimeError("pgbench is not installed (Debian: apt-get install postgresql-client)")
    return str(found[-1])
