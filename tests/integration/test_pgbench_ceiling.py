"""The pgbench ceiling of a join (bench/ceilings.py): the services' own statements, run by pgbench in a
scratch database that the services' own migrations built."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from bench import ceilings
from libs.events.outbox import OUTBOX_INSERT
from services.groupbuy.adapters.repository import _HOLD_SEAT  # the statement itself, to compare with
from tests.conftest import Infra
from tests.support.database import fetchval


def _body(script: str) -> str:
    """The script without its comments and variables: the statements and the meta-commands around them."""
    lines = (ceilings.SCRIPTS / script).read_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(("--", "\\set")))


def _is_the_statement(service_sql: str, script_sql: str, *, schema: str) -> bool:
    """The script's statement is the service's, each $n written as a pgbench expression and each table
    named with its schema (the services reach it through search_path)."""

    def flat(text: str) -> str:
        return " ".join(text.replace(f"{schema}.", "").split()).removesuffix(";").strip()

    fragments = [re.escape(part) for part in re.split(r"\$\d+", flat(service_sql))]
    return re.fullmatch(".+?".join(fragments), flat(script_sql)) is not None


def test_join_all_is_the_three_transactions_in_the_order_a_join_commits_them() -> None:
    parts = ("join_groupbuy.sql", "join_catalog.sql", "join_order.sql")
    assert _body("join_all.sql") == "".join(_body(part) for part in parts)


def test_the_seat_hold_script_runs_groupbuys_statement() -> None:
    assert _is_the_statement(_HOLD_SEAT, _body("join_groupbuy.sql"), schema="groupbuy_pingou")


@pytest.mark.parametrize(
    ("script", "schema"), [("join_order.sql", "order_pingou"), ("join_catalog.sql", "catalog_pingou")]
)
def test_the_outbox_rows_are_appended_by_the_outbox_statement(script: str, schema: str) -> None:
    inserts = re.findall(rf"INSERT INTO {schema}\.outbox .*?;", _body(script), flags=re.DOTALL)
    assert len(inserts) == 1
    assert _is_the_statement(OUTBOX_INSERT, inserts[0], schema=schema)


@pytest.mark.infra
@pytest.mark.parametrize("hot_sku", [False, True], ids=["eight_skus", "one_hot_sku"])
async def test_every_pgbench_join_writes_a_seat_a_reservation_and_an_order(infra: Infra, hot_sku: bool) -> None:
    database = f"pgbench_{uuid.uuid4().hex[:10]}"
    result = await asyncio.to_thread(
        ceilings.pgbench_join, infra.database_url, clients=4, seconds=2, hot_sku=hot_sku, database=database
    )
    assert result["tps"] > 0
    assert result["latency_ms_avg"] > 0
    assert result["latency_ms_p99"] > 0
    assert result["transactions"] > 0
    assert result["seats"] == result["transactions"]
    assert result["reservations"] == result["transactions"]
    assert result["orders"] == result["transactions"]
    # Hundreds of joins spread over eight SKUs reach every one; a hot run keeps to one.
    assert result["skus"] == (1 if hot_sku else ceilings.SEEDED_SKUS)
    assert await fetchval(infra.database_url, "SELECT 1 FROM pg_database WHERE datname = $1", database) is None
