"""`make chaos`: faults injected into the running local platform under the simulator's steady load, one at
a time and then together; after each, how long the platform took to recover and what its clients saw;
at the end, the invariants and the reconciliation of every event's effect.

    python -m chaos [--profile dev] [--faults all|short|NAME,...] [--broker-away-seconds 300]
                    [--scale 3] [--output chaos/results/latest.json]

`main(argv) -> int`: 0 when every check passed; 1 on any violation, lost or doubled effect, event set
aside or dead-lettered, fault not recovered from, or failed call during the rolling restart; 2 when the
run could not be made. `run_chaos(target, settings, console)` runs against any local platform (the test
in `make test` starts its own).

The load is one simulated group-buying day (simulator/) sized to outlast the faults, and cut short once
they are over: merchants list
SKUs, buyers sign up, then joins, orders, payments, cancellations, refunds and PLUS purchases through the
platform's own client helper (deadlines, wait for ready, retries of UNAVAILABLE for idempotent calls).
Recovery is the time from a fault being lifted until every service answers SERVING and every outbox
delivers again (no row waiting longer than FRESH_S)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform as host
import random
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from chaos import reconcile
from chaos.faults import Fault, schedule
from chaos.target import Target
from deploy.local import infra, services
from libs.core import BusinessLine
from ops.checks import INVARIANTS, connect, count_each, schemas_with, wait_until_idle
from ops.platform import LocalPlatform, running
from simulator import checks
from simulator.actors import Accounts, Buyers, Merchants, PaymentProvider
from simulator.client import Platform, Tally
from simulator.day import DayClock, DayShape, Volumes, plan_day
from simulator.play import Day
from simulator.run import caught_up

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "chaos" / "results" / "latest.json"
FRESH_S = 5.0  # an outbox row waiting longer than this means its relay is not delivering
RECOVERY_AT_MOST_S = 180.0
STEADY_S = 3.0  # steady load before each fault and after the last
PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
# The invariants true at every moment, under load too (the others hold once every event has been applied).
ALWAYS = ("group_over_size", "seats_over_size", "user_twice_in_group", "completed_not_full", "stock_below_zero")


@dataclass(frozen=True)
class ChaosSettings:
    faults: str = "all"
    broker_away_s: float = 300.0
    scale: float = 3.0  # the simulated day's volumes (simulator.day.Volumes) times this
    seed: int = 618
    output: Path = DEFAULT_OUTPUT


@dataclass
class FaultResult:
    fault: str
    operations: int  # calls the clients made from the fault's start until the platform recovered
    client_errors: int
    recovery_s: float | None  # from the fault lifted; None: not recovered within RECOVERY_AT_MOST_S
    outage_s: float | None  # from the fault injected until recovered
    rolling: bool
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    violations: int = 0  # of the invariants that hold at every moment (ALWAYS), right after recovery
    window: tuple[float, float] | None = None  # injected .. recovered, on the monotonic clock
    skipped: str = ""  # why the fault was not injected (a server that is not this machine's own)


async def _outbox_wait_s(database_url: str) -> float | None:
    """How long the oldest row waiting in any outbox has waited; None while the database does not answer."""
    try:
        connection = await connect(database_url)
        try:
            return await _oldest_wait_s(connection)
        finally:
            await connection.close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None  # not answering yet


async def _oldest_wait_s(connection: asyncpg.Connection) -> float:
    oldest = 0.0
    for schema in await schemas_with(connection, "outbox"):
        waited = await connection.fetchval(
            f"SELECT extract(epoch FROM now() - min(created_at)) FROM {schema}.outbox WHERE parked_at IS NULL"  # noqa: S608
        )
        oldest = max(oldest, float(waited or 0.0))
    return oldest


async def _recovery_s(target: Target, lifted_at: float) -> float | None:
    while time.monotonic() - lifted_at < RECOVERY_AT_MOST_S:
        if await target.serving():
            waited = await _outbox_wait_s(target.database_url)
            if waited is not None and waited < FRESH_S:
                return time.monotonic() - lifted_at
        await asyncio.sleep(0.25)
    return None


async def _inject(fault: Fault, target: Target) -> FaultResult:
    """Injects and lifts the fault, then waits for the recovery; the calls it saw are counted at the end
    (`attribute_calls`), once every call made during it has ended."""
    local_postgres, local_kafka = target.infra_is_local
    local = {"postgres": local_postgres, "kafka": local_kafka}
    if missing := [name for name in sorted(fault.needs) if not local[name]]:
        why = f"{', '.join(missing)} is not this machine's own"
        return FaultResult(fault.name, 0, 0, 0.0, 0.0, fault.rolling, skipped=why)
    injected = time.monotonic()
    await fault.inject(target)
    lifted = time.monotonic()
    recovery = await _recovery_s(target, lifted)
    ended = time.monotonic()
    outage = None if recovery is None else ended - injected
    violations = await _always_violated(target.database_url)
    return FaultResult(
        fault.name, 0, 0, recovery, outage, fault.rolling, violations=violations, window=(injected, ended)
    )


async def _always_violated(database_url: str) -> int:
    connection = await connect(database_url)
    try:
        return sum((await count_each(connection, {name: INVARIANTS[name] for name in ALWAYS})).values())
    finally:
        await connection.close()


def attribute_calls(results: Sequence[FaultResult], tally: Tally) -> int:
    """Each call to the first fault it overlapped (a call the broker's absence made wait counts for that
    fault, even when it ends during the next one): its operations and its errors by kind. Returns the
    errors of calls that overlapped no fault."""
    windows = [(result, result.window) for result in results if result.window is not None]
    between = 0
    for started, ended, method, reason in tally.timeline:
        fault = next((result for result, (first, last) in windows if started <= last and ended >= first), None)
        if fault is None:
            between += reason is not None
            continue
        fault.operations += 1
        if reason is not None:
            fault.client_errors += 1
            kind = f"{method} {reason}"
            fault.errors_by_kind[kind] = fault.errors_by_kind.get(kind, 0) + 1
    return between


async def _dead_lettered(bootstrap: str, prefix: str) -> int:
    """Messages on the platform's dead-letter topics (`<topic>.dlq`) of this topic prefix."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = [topic for topic in await consumer.topics() if topic.endswith(".dlq") and topic.startswith(prefix)]
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        if not partitions:
            return 0
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[partition] - starts[partition] for partition in partitions)
    finally:
        await consumer.stop()


def _day_seconds(faults: Sequence[Fault]) -> float:
    """Long enough to outlast the faults: the rest is cut once they are over."""
    return 1.3 * sum(STEADY_S + fault.estimate_s for fault in faults) + 15.0


async def run_chaos(target: Target, settings: ChaosSettings, console: Console) -> int:
    faults = schedule(settings.faults, [spec.name for spec in target.specs], broker_away_s=settings.broker_away_s)
    seconds = _day_seconds(faults)
    local = LocalPlatform(
        addresses={spec.name: f"{services.HOST}:{spec.port}" for spec in target.specs},
        database_url=target.database_url,
        kafka_bootstrap=target.kafka_bootstrap,
        keys=target.keys,
        data_dir=target.data_dir,
        topic_prefix=target.topic_prefix,
    )
    # A steady day: every hour alike and a small flash start, so each fault meets about the same load.
    shape = DayShape(hourly=(1.0,) * 24, flash_share={PINGOU: 0.02, MALL: 0.02})
    clock = DayClock(shape, seconds, flash_seconds=min(5.0, seconds / 20))
    plan = plan_day(shape, Volumes().scaled(settings.scale), random.Random(settings.seed))
    run = f"chaos{int(time.time())}"
    console.print(f"chaos: {len(faults)} faults under a simulated day of {plan.visits():,} turns over {seconds:.0f} s")
    started_at = datetime.now(UTC)
    dead_before = await _dead_lettered(target.kafka_bootstrap, target.topic_prefix)
    set_aside_before = await reconcile.set_aside(target.database_url)
    platform = Platform(local)
    provider = PaymentProvider(platform)
    results: list[FaultResult] = []
    try:
        with Progress(console=console, transient=True) as progress:
            setting_up = progress.add_task("merchants list SKUs, buyers sign up", total=None)
            assortment = await Merchants(platform, run).stock_the_day(plan)
            await Accounts(platform).register(plan.population.people)
            await provider.start_listening()
            await provider.sweep_refunds()
            progress.update(setting_up, total=1, completed=1)
            day = Day(plan, clock, assortment, Buyers(platform), provider, run=run)
            load = asyncio.create_task(day.play())
            task = progress.add_task("faults", total=len(faults))
            for fault in faults:
                await asyncio.sleep(STEADY_S)
                progress.update(task, description=f"fault: {fault.name}")
                result = await _inject(fault, target)
                results.append(result)
                console.print(_line(result))
                progress.advance(task)
            # The day was sized generously: once the faults are over, the rest of it is not needed.
            await asyncio.sleep(STEADY_S)
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
            record = day.record
            between = attribute_calls(results, platform.tally)
            settling = progress.add_task("every event reaching every consumer", total=None)
            await wait_until_idle(target.database_url, settle=2.0, at_most=300.0)
            await provider.sweep_refunds()
            await wait_until_idle(target.database_url, settle=2.0, at_most=300.0)
            window_end = datetime.now(UTC)
            _, rows = await caught_up(platform, target.database_url, started_at, window_end, at_most=120.0)
            progress.update(settling, total=1, completed=1)
        connection = await connect(target.database_url)
        try:
            found = await checks.invariants(connection, assortment.stocked)
            effects = [*reconcile.from_analytics(rows), *await reconcile.effects(connection, since=started_at)]
        finally:
            await connection.close()
    finally:
        await provider.stop_listening()
        await platform.close()

    dead = await _dead_lettered(target.kafka_bootstrap, target.topic_prefix) - dead_before
    set_aside = await reconcile.set_aside(target.database_url) - set_aside_before
    found.append(checks.Check("events_dead_lettered", "no event sent to a dead-letter topic", dead))
    found.append(checks.Check("rows_set_aside", "no outbox row or job row set aside", set_aside))
    amounts = [
        effect for effect in effects if not effect.counts_events and effect.consumer_count != effect.source_count
    ]
    found.append(
        checks.Check("amounts_reconciled", "every sum of money a consumer keeps equals its source's", len(amounts))
    )
    lost = sum(effect.lost for effect in effects)
    doubled = sum(effect.doubled for effect in effects)
    not_recovered = [result.fault for result in results if result.recovery_s is None]
    rolling_failed = sum(result.client_errors for result in results if result.rolling)
    summary = {
        "faults_injected": sum(1 for result in results if not result.skipped),
        "operations": sum(result.operations for result in results),
        "invariant_violations": sum(check.violations for check in found) + sum(r.violations for r in results),
        "lost_effects": lost,
        "duplicate_effects": doubled,
        "failed_rpcs_rolling_restart": rolling_failed,
        "recovery_s_max": round(max((r.recovery_s or 0.0 for r in results), default=0.0), 2),
        "not_recovered": not_recovered,
        "client_errors": sum(result.client_errors for result in results),
        "client_errors_between_faults": between,
        "faults": [{key: value for key, value in asdict(r).items() if key != "window"} for r in results],
        "checks": [asdict(check) for check in found],
        "effects": [asdict(effect) for effect in effects],
        "load": {
            "turns": plan.visits(),
            "day_seconds": seconds,
            "seats": record.seats,
            "mall_orders": record.mall_orders,
        },
        "machine": {"cores": _cores(), "python": host.python_version(), "kernel": host.release()},
        "started_at": started_at.isoformat(),
    }
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(json.dumps(summary, indent=2) + "\n")
    _print(console, results, found, summary, settings.output)
    failed = summary["invariant_violations"] or lost or doubled or rolling_failed or not_recovered
    return 1 if failed else 0


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _recovery_text(result: FaultResult) -> str:
    if result.skipped:
        return "skipped"
    return "not recovered" if result.recovery_s is None else f"{result.recovery_s:.1f}"


def _line(result: FaultResult) -> str:
    """The fault as it ends (its calls are counted once the load is over)."""
    if result.skipped:
        return f"  {result.fault}: skipped ({result.skipped})"
    outage = "" if result.outage_s is None else f", outage {result.outage_s:.1f} s"
    return (
        f"  {result.fault}: recovered in {_recovery_text(result)} s{outage}, {result.violations} invariant violations"
    )


def _kinds(result: FaultResult) -> str:
    return ", ".join(f"{kind} x{count}" for kind, count in sorted(result.errors_by_kind.items()))


def _print(
    console: Console,
    results: Sequence[FaultResult],
    found: Sequence[checks.Check],
    summary: dict[str, Any],
    output: Path,
) -> None:
    table = Table(title="chaos: faults under load")
    for column in ("fault", "operations during it", "client errors", "outage s", "recovery s", "violations"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    for result in results:
        outage = "" if result.outage_s is None else f"{result.outage_s:.1f}"
        table.add_row(
            result.fault, str(result.operations), str(result.client_errors), outage, _recovery_text(result),
            "" if result.skipped else str(result.violations),
        )  # fmt: skip
    table.add_row(
        "[b]once idle, after every fault[/b]", str(summary["operations"]), str(summary["client_errors"]), "", "",
        str(summary["invariant_violations"] + summary["lost_effects"] + summary["duplicate_effects"]),
    )  # fmt: skip
    console.print(table)
    for result in results:
        if result.errors_by_kind:
            console.print(f"client errors of {result.fault}: {_kinds(result)}")
    for check in found:
        if not check.passed:
            console.print(f"[red]violated[/red] {check.name}: {check.meaning} ({check.violations}) {check.detail}")
    for key in ("faults_injected", "operations", "invariant_violations", "lost_effects", "duplicate_effects",
                "failed_rpcs_rolling_restart", "recovery_s_max"):  # fmt: skip
        console.print(f"{key}: {summary[key]}")
    console.print(f"written: {output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    defaults = ChaosSettings()
    parser.add_argument("--profile", default="dev", choices=sorted(infra.PROFILES))
    parser.add_argument("--faults", default=defaults.faults, help="all, short, or names separated by commas")
    parser.add_argument("--broker-away-seconds", type=float, default=defaults.broker_away_s)
    parser.add_argument("--scale", type=float, default=defaults.scale, help="the simulated day's volumes times this")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--output", type=Path, default=defaults.output)
    args = parser.parse_args(argv)
    settings = ChaosSettings(
        faults=args.faults, broker_away_s=args.broker_away_seconds, scale=args.scale, seed=args.seed, output=args.output
    )
    console = Console(width=max(120, Console().width))
    try:
        schedule(settings.faults, [spec.name for spec in services.SERVICES], broker_away_s=settings.broker_away_s)
        local = running(args.profile)
        target = Target(
            profile=args.profile,
            data_dir=local.data_dir,
            env=services.local_env(
                local.data_dir, database_url=local.database_url, kafka_bootstrap=local.kafka_bootstrap
            ),
            specs=services.SERVICES,
            database_url=local.database_url,
            kafka_bootstrap=local.kafka_bootstrap,
            keys=local.keys,
        )
        return asyncio.run(run_chaos(target, settings, console))
    except (ValueError, RuntimeError, subprocess.CalledProcessError, infra.InfraError) as error:
        console.print(f"[red]chaos: {error}[/red]")
        return 2
    except grpc.aio.AioRpcError as error:
        console.print(f"[red]chaos: a service did not answer: {error.code().name} {error.details()}[/red]")
        return 2
