"""`make bench` works: a run of a few seconds against the whole platform, every service a real process
(as `make up` runs them) on a database and topics of its own, writes every figure the JSON promises. The
figures themselves are never asserted here: they belong to the benchmark, on a quiet machine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.console import Console

from bench.platform import Platform, tracked_parts
from bench.report import render
from bench.run import BenchSettings, run_bench
from libs.auth.local import LocalKeys
from tests.conftest import Infra
from tests.support.notes import free_port
from tests.support.processes import platform_processes

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
    async with platform_processes(infra, keys, page_token_key, tmp_path, prefix_letter="b") as processes:
        platform = Platform(
            addresses=processes.addresses,
            database_url=processes.database_url,
            kafka_bootstrap=infra.kafka_bootstrap,
            keys=keys,
            logs=tmp_path / "logs",
            topic_prefix=processes.topic_prefix,
            parts=await tracked_parts(processes.database_url, processes.pids(), kafka_pid=None),
        )
        settings = BenchSettings(
            seconds=2, idle_seconds=1, pgbench_seconds=1, planned_join_rate=300, echo_port=free_port()
        )
        results = await asyncio.to_thread(run_bench, platform, settings, lambda _: None)
    assert set(KEYS) <= set(results)
    assert set(results["rss_mib"]) >= {"catalog", "groupbuy", "order", "segmentation", "membership", "postgres"}
    assert results["details"]["phases"]["join"]["count"] > 0
    assert results["details"]["events_seen"] > 0  # the lag was measured over real events
    console = Console(record=True, width=160)
    render(results, console)
    assert "join_per_s" in console.export_text()
