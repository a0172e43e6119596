"""One simulated group-buying day against a running platform, start to verdict.

    python -m simulator [--profile dev] [--scale 1] [--seconds 75] [--flash-seconds 5] [--seed 618]
                        [--output PATH] [--await-failures]        (`make demo`; the CLI's `pingou simulate`)

`main(argv) -> int` is the entry point: it parses `argv` (sys.argv[1:] when None), runs against the
platform of `make up` for the profile (starting it when it does not run), prints as it goes and returns
the exit code: 0 when every check passed, 1 when any failed, 2 when the run could not be made.
`simulate(platform, settings, console) -> int` runs against any platform (the tests start their own).

In order: merchants list the day's SKUs; the account system signs the buyers up; the day is played
(progress bar, with the simulated clock); once every event reached every consumer and analytics has
caught up, the KPI table, the chart (PNG, its path printed), the seed's shapes and the checks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.analytics.v1 import analytics_pb2 as analytics
from pingou.groupbuy.v1 import groupbuy_pb2 as groupbuy
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from deploy.local import infra
from libs.core import BusinessLine
from ops.checks import connect, wait_until_idle
from ops.platform import LocalPlatform, running
from simulator import checks
from simulator.actors import LINE_TO_PROTO, Accounts, Assortment, Buyers, Merchants, PaymentProvider
from simulator.chart import write_chart
from simulator.client import Platform
from simulator.day import DayClock, DayPlan, DayShape, Volumes, plan_day
from simulator.play import Day, DayRecord
from simulator.population import check_tiers
from simulator.report import print_report
from simulator.shapes import orders_by_minute, the_seeds_shapes

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DemoSettings:
    scale: float = 1.0  # volumes of simulator.day.Volumes times this
    seconds: float = 75.0  # the simulated day, played in this many seconds
    flash_seconds: float = 5.0  # of which the flash start (its first 15 simulated minutes)
    seed: int = 618  # the same seed plays the same day
    output: Path | None = None  # the PNG; default <data dir>/demo/day-<run>.png
    await_failures: bool = False  # wait (about 10 minutes) until the friends-only groups left to fail fail
    catch_up_seconds: float = 90.0  # how long analytics may take to catch up once the platform is idle


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def _show_clock(progress: Progress, task: TaskID, day: Day, shape: DayShape) -> None:
    while True:
        minute = min(day.minute_now(), shape.minutes - 1)
        flash = " (flash start)" if minute < shape.flash_minutes else ""
        progress.update(task, description=f"group-buying day {int(minute // 60):02d}:{int(minute % 60):02d}{flash}")
        await asyncio.sleep(0.2)


async def _lag(platform: Platform) -> int | None:
    """Records analytics has not applied yet, over both lines (None while it does not answer)."""
    total = 0
    for line in (PINGOU, MALL):
        status = await platform.analytics.GetConsumerStatus(
            analytics.GetConsumerStatusRequest(line=LINE_TO_PROTO[line]), metadata=platform.operator(line)
        )
        total += sum(max(0, partition.lag) for partition in status.partitions)
    return total


async def _reports(platform: Platform, start: datetime, end: datetime) -> dict[BusinessLine, analytics.KpiReport]:
    reports = {}
    for line in (PINGOU, MALL):
        request = analytics.GetKpisRequest(
            line=LINE_TO_PROTO[line],
            granularity=analytics.GRANULARITY_MINUTE,  # analytics widens the window to whole buckets
            to=_timestamp(end),
            **{"from": _timestamp(start)},
        )
        reports[line] = await platform.analytics.GetKpis(request, metadata=platform.operator(line))
    return reports


async def caught_up(
    platform: Platform, database_url: str, start: datetime, end: datetime, at_most: float
) -> tuple[dict[BusinessLine, analytics.KpiReport], list[checks.Reconciled]]:
    """The KPI reports over [start, end) once analytics has applied everything (its consumer lag is 0) and
    its counts equal the tables', or as they are when `timeout` runs out (the differences then fail)."""
    deadline = time.monotonic() + at_most
    connection = await connect(database_url)
    try:
        while True:
            lag = await _lag(platform)
            reports = await _reports(platform, start, end)
            rows = await checks.reconcile(connection, reports)
            agreed = all(row.analytics == row.database for row in rows)
            if (lag == 0 and agreed) or time.monotonic() > deadline:
                return reports, rows
            await asyncio.sleep(1.0)
    finally:
        await connection.close()


async def _friends_groups_open(platform: Platform, group_ids: list[str]) -> list[groupbuy.Group]:
    still = []
    for group_id in group_ids:
        group = await platform.call(
            platform.groupbuy.GetGroup, groupbuy.GetGroupRequest(group_id=group_id), platform.operator(PINGOU)
        )
        if group is not None and group.state == groupbuy.GROUP_STATE_OPEN:
            still.append(group)
    return still


async def _await_failures(platform: Platform, record: DayRecord, progress: Progress) -> None:
    """Waits until the friends-only groups left to fail have failed (their window is 10 real minutes)."""
    waiting = len(record.friends_only_groups)
    task = progress.add_task("friends-only groups left to fail: waiting for their windows", total=waiting)
    while still := await _friends_groups_open(platform, record.friends_only_groups):
        progress.update(task, completed=waiting - len(still))
        await asyncio.sleep(5)
    progress.update(task, completed=waiting)


def _window_text(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S} to {end.astimezone(SHANGHAI):%H:%M:%S} (Asia/Shanghai)"


async def simulate(local: LocalPlatform, settings: DemoSettings, console: Console) -> int:
    """Plays one day against `local` and prints what it did; 0 when every check passed, else 1."""
    check_tiers()
    shape = DayShape()
    clock = DayClock(shape, settings.seconds, settings.flash_seconds)
    plan = plan_day(shape, Volumes().scaled(settings.scale), random.Random(settings.seed))
    run = f"{int(time.time())}"
    console.print(
        f"simulator: {plan.visits():,} turns of {len(plan.population.people):,} people over a day of "
        f"{shape.minutes / 60:.0f} simulated hours in {settings.seconds:.0f} s "
        f"(flash start: {shape.flash_minutes:.0f} minutes in {settings.flash_seconds:.0f} s; "
        f"1 s = {clock.minutes_per_second(shape.flash_minutes):.0f} simulated minutes after it)"
    )
    platform = Platform(local)
    provider = PaymentProvider(platform)
    window_start = datetime.now(UTC)
    try:
        with _progress(console) as progress:
            assortment = await set_up_day(platform, plan, provider, run, progress)
            day = Day(plan, clock, assortment, Buyers(platform), provider, run=run)
            record = await _play(day, plan, progress)
            window_end = await _settle(platform, local, provider, record, settings, progress)
            catching_up = progress.add_task("analytics catching up", total=None)
            reports, reconciled = await caught_up(
                platform, local.database_url, window_start, window_end, at_most=settings.catch_up_seconds
            )
            progress.update(catching_up, total=1, completed=1)
        await provider.stop_listening()
        connection = await connect(local.database_url)
        try:
            series = await orders_by_minute(connection, clock, day_started=record.started_at, until=window_end)
            found = await checks.invariants(connection, assortment.stocked)
        finally:
            await connection.close()
        left = _left_to_fail(await _friends_groups_open(platform, record.friends_only_groups))
    finally:
        await provider.stop_listening()
        await platform.close()

    kpis: Mapping[BusinessLine, analytics.Kpis] = {line: report.total for line, report in reports.items()}
    found += checks.reconciliation_checks(reconciled)
    unexpected = platform.tally.error_count()
    found.append(checks.Check("calls_failed_unexpectedly", "no call failed for a reason nobody expects", unexpected))
    path = write_chart(settings.output or local.data_dir / "demo" / f"day-{run}.png", series, kpis)
    print_report(
        console,
        kpis=kpis,
        window=_window_text(*checks.window_of(reports[PINGOU])),
        record=record,
        tally=platform.tally,
        ledger=provider.ledger,
        shapes=the_seeds_shapes(series, kpis),
        checks=found,
    )
    if left:
        console.print(left)
    console.print(f"chart: {path}")
    failed = [check.name for check in found if not check.passed]
    if failed:
        console.print(f"[red]FAIL[/red]: {len(failed)} of {len(found)} checks: {', '.join(failed)}")
        return 1
    console.print(f"PASS: all {len(found)} checks")
    return 0


async def set_up_day(
    platform: Platform, plan: DayPlan, provider: PaymentProvider, run: str, progress: Progress
) -> Assortment:
    """Merchants list the day's SKUs, the buyers sign up, the provider starts listening for refunds (and
    answers those asked while no provider listened: groups an earlier run left to fail fail after it)."""
    stocking = progress.add_task("merchants list the day's SKUs", total=None)
    assortment = await Merchants(platform, run).stock_the_day(plan)
    progress.update(stocking, total=1, completed=1)
    people = plan.population.people
    signup = progress.add_task("buyers sign up", total=sum(len(person.lines) for person in people))
    await Accounts(platform).register(people, lambda: progress.advance(signup))
    await provider.start_listening()
    await provider.sweep_refunds()
    return assortment


async def _play(day: Day, plan: DayPlan, progress: Progress) -> DayRecord:
    task = progress.add_task("group-buying day 00:00", total=plan.visits())
    day.visited = lambda: progress.advance(task)
    ticking = asyncio.create_task(_show_clock(progress, task, day, plan.shape))
    try:
        return await day.play()
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking


async def _settle(
    platform: Platform,
    local: LocalPlatform,
    provider: PaymentProvider,
    record: DayRecord,
    settings: DemoSettings,
    progress: Progress,
) -> datetime:
    """Waits until every event reached every consumer (and, asked to, until the groups left to fail
    failed), with every refund asked answered; the moment after, which ends the run's window."""
    settling = progress.add_task("every event reaching every consumer", total=None)
    await wait_until_idle(local.database_url, settle=2.0)
    if settings.await_failures:
        await _await_failures(platform, record, progress)
    await provider.sweep_refunds()
    await wait_until_idle(local.database_url, settle=2.0)
    progress.update(settling, total=1, completed=1)
    return datetime.now(UTC)


def _left_to_fail(still: list[groupbuy.Group]) -> str:
    if not still:
        return ""
    ends = max(group.expires_at.ToDatetime(tzinfo=UTC) for group in still).astimezone(SHANGHAI)
    return (
        f"{len(still)} friends-only groups are left to fail when their windows end (by {ends:%H:%M:%S}): the "
        "window job fails them and their paid members are refunded; `--await-failures` waits for it, and the "
        "next run checks it."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    defaults = DemoSettings()
    parser.add_argument("--profile", default="dev", choices=sorted(infra.PROFILES))
    parser.add_argument(
        "--scale", type=float, default=defaults.scale, help="volumes times this (1: about 1,000 orders)"
    )
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="real seconds the simulated day takes")
    parser.add_argument("--flash-seconds", type=float, default=defaults.flash_seconds, help="of which the flash start")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the same seed plays the same day")
    parser.add_argument(
        "--output", type=Path, default=None, help="the PNG (default: .data/<profile>/demo/day-<run>.png)"
    )
    parser.add_argument(
        "--await-failures", action="store_true", help="wait until the groups left to fail fail (~10 min)"
    )
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    settings = DemoSettings(
        scale=args.scale,
        seconds=args.seconds,
        flash_seconds=args.flash_seconds,
        seed=args.seed,
        output=args.output,
        await_failures=args.await_failures,
    )
    console = Console(width=max(120, Console().width))
    try:
        DayClock(DayShape(), settings.seconds, settings.flash_seconds)
        local = running(args.profile)
        return asyncio.run(simulate(local, settings, console))
    except (ValueError, RuntimeError, subprocess.CalledProcessError) as error:
        console.print(f"[red]simulator: {error}[/red]")
        return 2
    except grpc.aio.AioRpcError as error:
        console.print(f"[red]simulator: a service did not answer: {error.code().name} {error.details()}[/red]")
        return 2
