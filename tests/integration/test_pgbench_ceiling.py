"""The pgbench ceiling of a join (bench/ceilings.py): the services' own statements, run by pgbench in a
scratch database that the services' own migrations built."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bench import ceilings
from libs.events.consumer import _CLAIM, _CLAIM_MANY  # the inbox statements themselves, to compare with
from libs.events.outbox import OUTBOX_INSERT
from services.groupbuy.adapters.repository import _HOLD_SEAT
from services.order.adapters.repository import OrderRepository
from tests.conftest import Infra
from tests.support.database import fetchval


def _body(script: str) -> str:
    """A script of bench/pgbench as a run writes it, without its comments and variables."""
    return ceilings.body(ceilings.script(script))


def _statements(script: str) -> list[str]:
    return ceilings.statements(ceilings.script(script))


def _is_the_statement(service_sql: str, script_sql: str, *, schema: str) -> bool:
    """The script's statement is the service's, each $n written as a pgbench expression and each table
    named with its schema (the services reach it through search_path)."""

    def flat(text: str) -> str:
        return " ".join(text.replace(f"{schema}.", "").split()).removesuffix(";").strip()

    fragments = [re.escape(part) for part in re.split(r"\$\d+", flat(service_sql))]
    return re.fullmatch(".+?".join(fragments), flat(script_sql)) is not None


def _sql_of(method: Callable[..., Any]) -> str:
    """The one SQL string of a repository method that writes its statement inline."""
    (statement,) = (
        const
        for const in method.__code__.co_consts
        if isinstance(const, str) and re.match(r"\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b", const)
    )
    return statement


def test_the_join_script_is_the_seat_hold_then_the_orders_transaction() -> None:
    assert ceilings.body(ceilings.join_script()) == _body("join_groupbuy.sql") + _body("join_order.sql")
    assert ceilings.join_script().startswith(ceilings.script())  # after the shared variables


def test_the_seat_hold_script_runs_groupbuys_statement() -> None:
    assert _is_the_statement(_HOLD_SEAT, _body("join_groupbuy.sql"), schema="groupbuy_pingou")


def test_the_order_script_is_what_the_consumer_commits_for_one_seat_held() -> None:
    begin, claim, placed, failed, announced, commit = _statements("join_order.sql")
    assert (begin, commit) == ("BEGIN;\n", "COMMIT;\n")
    assert _is_the_statement(_CLAIM, claim, schema="order_pingou")
    assert _is_the_statement(_sql_of(OrderRepository.add_order), placed, schema="order_pingou")
    assert _is_the_statement(_sql_of(OrderRepository.group_has_failed), failed, schema="order_pingou")
    assert _is_the_statement(OUTBOX_INSERT, announced, schema="order_pingou")


def test_the_order_batch_script_is_one_claim_then_the_handler_for_each_event() -> None:
    batch = ceilings.statements(ceilings.order_batch_script())
    handler = _statements("join_order.sql")[2:-1]
    assert (batch[0], batch[-1]) == ("BEGIN;\n", "COMMIT;\n")
    assert _is_the_statement(_CLAIM_MANY, batch[1], schema="order_pingou")
    assert f"generate_series(1, {ceilings.ORDER_BATCH_EVENTS})" in batch[1]
    # Event n is the single script's join with its own ids: :join || '-n'.
    events = range(1, ceilings.ORDER_BATCH_EVENTS + 1)
    assert batch[2:-1] == [statement.replace(":join", f":join || '-{n}'") for n in events for statement in handler]


def test_catalogs_outbox_row_is_appended_by_the_outbox_statement() -> None:
    inserts = re.findall(r"INSERT INTO catalog_pingou\.outbox .*?;", _body("join_catalog.sql"), flags=re.DOTALL)
    assert len(inserts) == 1
    assert _is_the_statement(OUTBOX_INSERT, inserts[0], schema="catalog_pingou")


@pytest.mark.infra
@pytest.mark.parametrize("hot_sku", [False, True], ids=["eight_skus", "one_hot_sku"])
async def test_every_pgbench_join_writes_a_seat_its_unit_and_its_order(infra: Infra, hot_sku: bool) -> None:
    database = f"pgbench_{uuid.uuid4().hex[:10]}"
    result = await asyncio.to_thread(
        ceilings.pgbench_join,
        infra.database_url,
        clients=4,
        seconds=2,
        hot_sku=hot_sku,
        per_service=hot_sku,  # once, to see every script run
        database=database,
    )
    assert result["tps"] > 0
    assert result["latency_ms_avg"] > 0
    assert result["latency_ms_p99"] > 0
    assert result["transactions"] > 0
    assert result["seats"] == result["transactions"]
    assert result["orders"] == result["transactions"]
    assert result["units"] == result["transactions"]
    # The seat hold alone ran too, every hold taking a seat (pgbench_join refuses a run that did not).
    assert result["seat_tps"] > 0
    assert result["seat_latency_ms_p99"] > 0
    if hot_sku:
        for name in ("groupbuy", "order", "catalog"):
            assert result[f"{name}_tps"] > 0
        assert result["order_batch_events_per_s"] > 0
        assert result["order_batch_ms_per_event"] > 0
    # Hundreds of joins spread over eight SKUs reach every one; a hot run keeps to one.
    assert result["skus"] == (1 if hot_sku else ceilings.SEEDED_SKUS)
    assert await fetchval(infra.database_url, "SELECT 1 FROM pg_database WHERE datname = $1", database) is None
