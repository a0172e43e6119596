"""`make bench` works: a run of a few seconds against the whole platform, every service a real process
(as `make up` runs them) on a database and topics of its own, writes every figure the JSON promises. The
figures themselves are never asserted here: they belong to the benchmark, on a quiet machine."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from bench.platform import Platform, tracked_parts
from bench.report import render
from bench.run import BenchSettings, run_bench
from deploy.local import services
from libs.auth.local import LocalKeys
from tests.conftest import Infra, fresh_database
from tests.support.notes import free_port

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

KEYS = (
    "join_per_s",
    "join_p50_ms",
    "join_p99_ms",
    "hot_sku_join_per_s",
    "lag_p50_ms",
    "lag_p99_ms",
    "read_per_s",
    "echo_rps",
    "pgbench_join_tps",
    "errors",
    "invariant_violations",
    "rss_mib",
    "idle_cpu_percent",
    "machine",
)


async def test_a_short_bench_run_writes_every_figure(
    infra: Infra, keys: LocalKeys, page_token_key: Path, tmp_path: Path
) -> None:
    specs = [dataclasses.replace(spec, port=free_port(), metrics_port=None) for spec in services.SERVICES]
    prefix = f"b{uuid.uuid4().hex[:8]}."
    async with fresh_database(infra) as database_url:
        env = {
            **services.platform_env(
                database_url=database_url,
                kafka_bootstrap=infra.kafka_bootstrap,
                keys=keys,
                identity_salt=uuid.uuid4().hex,
                page_token_key=page_token_key,
                specs=specs,
            ),
            "KAFKA_TOPIC_PREFIX": prefix,
        }
        try:
            await asyncio.to_thread(services.up_all, env, tmp_path, specs)
            pids = {spec.name: int((tmp_path / "run" / f"{spec.name}.pid").read_text()) for spec in specs}
            platform = Platform(
                addresses={spec.name: f"{services.HOST}:{spec.port}" for spec in specs},
                database_url=database_url,
                kafka_bootstrap=infra.kafka_bootstrap,
                keys=keys,
                logs=tmp_path / "logs",
                topic_prefix=prefix,
                parts=await tracked_parts(database_url, pids, kafka_pid=None),
            )
            settings = BenchSettings(
                seconds=2, idle_seconds=1, pgbench_seconds=1, planned_join_rate=300, echo_port=free_port()
            )
            results = await asyncio.to_thread(run_bench, platform, settings, lambda _: None)
        finally:
            await asyncio.to_thread(services.down_all, tmp_path, specs)

    assert set(KEYS) <= set(results)
    assert set(results["rss_mib"]) >= {"catalog", "groupbuy", "order", "segmentation", "membership", "postgres"}
    assert results["details"]["phases"]["join"]["count"] > 0
    assert results["details"]["events_seen"] > 0  # the lag was measured over real events
    console = Console(record=True, width=160)
    render(results, console)
    assert "join_per_s" in console.export_text()
