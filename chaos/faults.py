"""The faults a chaos run injects, each broken and then put right by its own `inject`, which returns once
the fault is lifted (the process started again, the broker or database back); the run then measures the
recovery. Relays, consumers and jobs are workers inside their service's process, so killing a service
kills its outbox relay mid-delivery (the kill waits until the relay has rows to send) and killing
analytics kills the analytics consumer mid-batch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from chaos.target import Target
from ops.checks import schemas_with

BUSY_WAIT_S = 5.0  # how long a kill waits for its service's relay to have rows to send


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[Target], Awaitable[None]]  # breaks, holds, lifts; returns once lifted
    needs: frozenset[str] = frozenset()  # "postgres", "kafka": local servers it must be allowed to stop
    rolling: bool = False  # a rolling restart: its clients must see no failed call
    estimate_s: float = 10.0  # about how long it takes with its recovery (the load is sized by it)


async def _relay_has_work(target: Target, service: str) -> None:
    """Until one of the service's outboxes holds a row to send (or BUSY_WAIT_S): a kill then lands while
    its relay is delivering. Without an answer from the database (a fault injected together with this
    one), at once."""
    try:
        connection = await asyncpg.connect(target.database_url, timeout=2)
        try:
            await _until_outbox_rows(connection, service)
        finally:
            await connection.close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return


async def _until_outbox_rows(connection: asyncpg.Connection, service: str) -> None:
    deadline = time.monotonic() + BUSY_WAIT_S
    schemas = await schemas_with(connection, "outbox", prefix=f"{service}_")
    while schemas and time.monotonic() < deadline:
        counts = [await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox") for schema in schemas]  # noqa: S608
        if any(counts):
            return
        await asyncio.sleep(0.02)


def kill(service: str, *, down_s: float = 1.0) -> Fault:
    async def inject(target: Target) -> None:
        await _relay_has_work(target, service)
        await target.kill(service)
        await asyncio.sleep(down_s)
        await target.start(service)

    return Fault(f"SIGKILL {service}", inject, estimate_s=5.0)


def broker_restart() -> Fault:
    async def inject(target: Target) -> None:
        await target.stop_broker()
        await target.start_infra()

    return Fault("Kafka broker restart", inject, needs=frozenset({"kafka"}), estimate_s=12.0)


def broker_away(seconds: float) -> Fault:
    async def inject(target: Target) -> None:
        await target.stop_broker()
        await asyncio.sleep(seconds)
        await target.start_infra()

    return Fault(f"Kafka broker away {seconds:.0f} s", inject, needs=frozenset({"kafka"}), estimate_s=seconds + 10.0)


def database_restart(*, down_s: float = 2.0) -> Fault:
    async def inject(target: Target) -> None:
        await target.stop_database()
        await asyncio.sleep(down_s)
        await target.start_infra()

    return Fault("PostgreSQL restart", inject, needs=frozenset({"postgres"}), estimate_s=10.0)


def rolling_restart() -> Fault:
    """Every service in turn, in start order: SIGTERM (drain), start, SERVING, then the next."""

    async def inject(target: Target) -> None:
        for spec in target.specs:
            await target.terminate(spec.name)
            await target.start(spec.name)

    return Fault("rolling restart (SIGTERM)", inject, rolling=True, estimate_s=15.0)


def together(*faults: Fault) -> Fault:
    """Several faults at once."""

    async def inject(target: Target) -> None:
        await asyncio.gather(*(fault.inject(target) for fault in faults))

    needs = frozenset().union(*(fault.needs for fault in faults))
    estimate = max(fault.estimate_s for fault in faults)
    return Fault(" + ".join(fault.name for fault in faults), inject, needs=needs, estimate_s=estimate)


def schedule(which: str, services: Sequence[str], *, broker_away_s: float) -> list[Fault]:
    """`all`: each service killed, the broker restarted and away, the database restarted, a rolling
    restart, then faults mixed; `short` (in `make test`): a few of them; or names separated by commas."""
    every_kill = [kill(name) for name in services]
    mixed = [
        together(kill("order"), broker_restart()),
        together(kill("groupbuy"), kill("segmentation"), database_restart()),
    ]
    if which == "all":
        return [
            *every_kill,
            broker_restart(),
            database_restart(),
            broker_away(broker_away_s),
            rolling_restart(),
            *mixed,
        ]
    if which == "short":
        # Order is killed while the broker restarts: it must start again before the broker is back.
        return [kill("groupbuy"), kill("analytics"), together(kill("order"), broker_restart()), rolling_restart()]
    known = {
        **{f"kill-{name}": kill(name) for name in services},
        "broker-restart": broker_restart(),
        "broker-away": broker_away(broker_away_s),
        "postgres-restart": database_restart(),
        "rolling-restart": rolling_restart(),
        "mixed": together(*mixed),
    }
    chosen = [name.strip() for name in which.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise ValueError(f"unknown faults {unknown}: choose all, short, or some of {', '.join(known)}")
    return [known[name] for name in chosen]
