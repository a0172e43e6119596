"""One benchmark run, in the order the figures need: idle CPU first (nothing else running), the two
ceilings, then the joins (many SKUs, then one hot SKU) with CPU and memory sampled, the lag of their
events, the single-hop read, and the invariants once the platform is idle again."""

from __future__ import annotations

import asyncio
import math
import os
import platform as host
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench import ceilings, checks, scenario
from bench.ghz import GHZ_VERSION, LoadResult, ghz_binary, run_ghz
from bench.platform import Platform
from bench.processes import Tracked, alive, cpu_snapshot, cpu_spent, memory_mib
from deploy.local import services
from ops.checks import connect, invariant_violations, wait_until_idle

JOIN = "pingou.groupbuy.v1.GroupbuyService.JoinGroup"
GET_GROUP = "pingou.groupbuy.v1.GroupbuyService.GetGroup"
ECHO = "pingou.bench.v1.EchoService.Echo"
SPREAD_SKUS = 8
Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchSettings:
    seconds: float = 15.0  # each load phase
    concurrency: int = 64
    idle_seconds: float = 10.0
    pgbench_seconds: float = 10.0
    # Groups are opened for this many joins a second (a faster run would fill them and report GROUP_FULL).
    planned_join_rate: float = 2000.0
    echo_port: int = 20059


class Sampler:
    """Peak resident memory of every part, sampled every half second while a phase runs."""

    def __init__(self, parts: Mapping[str, Tracked]):
        self.parts = parts
        self.peak_mib: dict[str, float] = dict.fromkeys(parts, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, part in self.parts.items():
                if alive(part.pid):
                    self.peak_mib[name] = max(self.peak_mib[name], memory_mib(part))
            self._stop.wait(0.5)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_used(parts: Mapping[str, Tracked], action: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Runs `action`; returns its result and the CPU seconds each part spent meanwhile."""
    before = cpu_snapshot(parts)
    outcome = action()
    after = cpu_snapshot(parts)
    return outcome, {name: round(cpu_spent(before[name], after[name]), 2) for name in parts}


def idle_cpu_percent(parts: Mapping[str, Tracked], seconds: float) -> tuple[float, dict[str, float]]:
    _, spent = cpu_used(parts, lambda: time.sleep(seconds))
    per_part = {name: round(100 * used / seconds, 2) for name, used in spent.items()}
    return round(sum(per_part.values()), 2), per_part


def echo_ceiling(platform: Platform, settings: BenchSettings, token: str) -> LoadResult:
    """The bare echo server (bench/echo.py) on the same stack, loaded exactly like the joins."""
    spec = services.ServiceSpec("bench-echo", "bench.echo", port=settings.echo_port)
    env = {"JWT_KEY_SET_FILE": str(platform.keys.key_set_file), "LOG_FORMAT": "json"}
    with tempfile.TemporaryDirectory(prefix="bench-echo-") as folder:
        data_dir = Path(folder)
        services.start(spec, env, data_dir)
        try:
            return run_ghz(
                f"{services.HOST}:{spec.port}",
                ECHO,
                [{"text": "ping"}],
                token=token,
                concurrency=settings.concurrency,
                seconds=settings.seconds,
            )
        finally:
            services.stop(spec, data_dir)


def _machine(platform: Platform) -> dict[str, Any]:
    memory_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    ghz_version = subprocess.run([str(ghz_binary()), "--version"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": host.release(),
        "python": sys.version.split()[0],
        "grpcio": grpc.__version__,
        "postgres": asyncio.run(_postgres_version(platform.database_url)),
        "ghz": ghz_version.stdout.strip() or GHZ_VERSION,
    }


async def _postgres_version(database_url: str) -> str:
    connection = await connect(database_url)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def _groups_for(settings: BenchSettings) -> int:
    planned = settings.planned_join_rate * settings.seconds + _calibration_calls(settings)
    return max(4, math.ceil(planned / scenario.JOINS_PER_GROUP))


def _calibration_calls(settings: BenchSettings) -> int:
    return settings.concurrency * 8


def _join_phase(
    platform: Platform, settings: BenchSettings, token: str, groups: scenario.Groups, *, run: str
) -> tuple[LoadResult, dict[str, float]]:
    """A short run to learn the rate, then one of `seconds` at that rate, both by call count (a timed ghz
    run cancels the calls in flight when it ends, and a join cancelled half-way is not what we measure).
    Each join comes from a buyer of its own, registered beforehand."""
    segmentation = platform.addresses["segmentation"]
    calibration = _calibration_calls(settings)

    def joins(buyers: list[str], *, first: int) -> LoadResult:
        return run_ghz(
            platform.addresses["groupbuy"],
            JOIN,
            scenario.join_messages(groups, buyers, run=run, first=first),
            token=token,
            concurrency=settings.concurrency,
            total=len(buyers),
        )

    probe = asyncio.run(scenario.register_buyers(segmentation, token, count=calibration))
    rate = joins(probe, first=0).rps
    capacity = len(groups.group_ids) * scenario.JOINS_PER_GROUP - calibration
    total = max(settings.concurrency, min(capacity, round(rate * settings.seconds)))
    buyers = asyncio.run(scenario.register_buyers(segmentation, token, count=total))
    result, cpu = cpu_used(platform.parts, lambda: joins(buyers, first=calibration))
    return result, cpu


def run_bench(platform: Platform, settings: BenchSettings, say: Say) -> dict[str, Any]:
    token = platform.operator_token()
    run_number = int(time.time())
    ghz_binary()  # built before anything is timed

    say("waiting for the platform to be idle, then measuring its idle CPU")
    asyncio.run(wait_until_idle(platform.database_url))
    idle_total, idle_parts = idle_cpu_percent(platform.parts, settings.idle_seconds)

    say("ceiling: echo through the server stack")
    echo = echo_ceiling(platform, settings, token)
    say("ceiling: pgbench running the SQL a join commits")
    pgbench = ceilings.pgbench_join(platform.database_url, clients=32, seconds=settings.pgbench_seconds)
    pgbench_hot = ceilings.pgbench_join(
        platform.database_url, clients=32, seconds=settings.pgbench_seconds, hot_sku=True
    )

    count = _groups_for(settings)
    say(f"set-up: {SPREAD_SKUS + 1} SKUs, {2 * count} groups of {scenario.GROUP_SIZE}")
    groupbuy = platform.addresses["groupbuy"]
    run = str(run_number)
    skus = asyncio.run(scenario.create_skus(platform.addresses["catalog"], token, run=run, count=9))
    leaders = asyncio.run(scenario.register_buyers(platform.addresses["segmentation"], token, count=2 * count))
    spread = asyncio.run(
        scenario.open_groups(groupbuy, token, leaders=leaders[:count], sku_ids=skus[:SPREAD_SKUS], run=run)
    )
    hot = asyncio.run(
        scenario.open_groups(groupbuy, token, leaders=leaders[count:], sku_ids=skus[SPREAD_SKUS:], run=run)
    )
    asyncio.run(wait_until_idle(platform.database_url))

    offsets_before = asyncio.run(checks.topic_offsets(platform.kafka_bootstrap, f"{platform.topic_prefix}pingou."))
    since = datetime.now(UTC)
    with Sampler(platform.parts) as sampler:
        say(f"load: JoinGroup over {count} groups of {SPREAD_SKUS} SKUs, {settings.concurrency} callers")
        joins, join_cpu = _join_phase(platform, settings, token, spread, run=run)
        say(f"load: JoinGroup, every caller on one SKU ({count} groups)")
        hot_joins, _ = _join_phase(platform, settings, token, hot, run=run)
        say("waiting for every event to reach every consumer")
        drained_s = asyncio.run(wait_until_idle(platform.database_url))
    offsets_after = asyncio.run(checks.topic_offsets(platform.kafka_bootstrap, f"{platform.topic_prefix}pingou."))
    events = asyncio.run(checks.events_between(platform.kafka_bootstrap, offsets_before, offsets_after))
    lags, all_lags = asyncio.run(checks.event_lags(platform.database_url, events, since=since))

    say("load: GetGroup (one hop, reads only)")
    reads = run_ghz(
        groupbuy,
        GET_GROUP,
        scenario.get_messages(spread),
        token=token,
        concurrency=settings.concurrency,
        seconds=settings.seconds,
    )
    say("invariants")
    violations = asyncio.run(invariant_violations(platform.database_url))

    joined = max(joins.count - joins.errors, 1)
    return {
        "join_per_s": round(joins.rps * (joins.count - joins.errors) / max(joins.count, 1), 1),
        "join_p50_ms": round(joins.p50_ms, 2),
        "join_p99_ms": round(joins.p99_ms, 2),
        "hot_sku_join_per_s": round(hot_joins.rps * (hot_joins.count - hot_joins.errors) / max(hot_joins.count, 1), 1),
        "hot_sku_join_p99_ms": round(hot_joins.p99_ms, 2),
        "lag_p50_ms": round(checks.percentile(all_lags, 0.5), 1),
        "lag_p99_ms": round(checks.percentile(all_lags, 0.99), 1),
        "read_per_s": round(reads.rps, 1),
        "read_p99_ms": round(reads.p99_ms, 2),
        "echo_rps": round(echo.rps, 1),
        "echo_p99_ms": round(echo.p99_ms, 2),
        "pgbench_join_tps": round(pgbench["tps"], 1),
        "pgbench_hot_sku_join_tps": round(pgbench_hot["tps"], 1),
        "errors": joins.errors + hot_joins.errors + reads.errors,
        "invariant_violations": sum(violations.values()),
        "rss_mib": {name: round(value, 1) for name, value in sampler.peak_mib.items()},
        "idle_cpu_percent": idle_total,
        "machine": _machine(platform),
        "details": {
            "settings": {**settings.__dict__},
            "phases": {
                "join": joins.as_json(),
                "hot_sku_join": hot_joins.as_json(),
                "get_group": reads.as_json(),
                "echo": echo.as_json(),
            },
            "pgbench": {"spread": pgbench, "hot_sku": pgbench_hot},
            "cpu_seconds_during_join": join_cpu,
            "cpu_ms_per_join": {name: round(1000 * spent / joined, 3) for name, spent in join_cpu.items()},
            "idle_cpu_percent_by_part": idle_parts,
            "lag_by_consumer": [lag.as_json() for lag in lags],
            "events_seen": len(events),
            "drain_seconds": round(drained_s, 1),
            "violations": violations,
        },
    }
