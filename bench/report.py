"""The table `make bench` prints: each figure beside its ceiling from the same run and the reach it is held
to (issue 10; `ROWS` below, and the targets in bench/README.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

Check = Callable[[float], bool]

# figure, the ceiling it is compared with (or None), the reach as text, and the check of the reach.
ROWS: list[tuple[str, str | None, str, Check]] = [
    ("join_per_s", "pgbench_join_tps", ">= 1500", lambda v: v >= 1500),
    ("join_p50_ms", None, "", lambda v: True),
    ("join_p99_ms", None, "< 50", lambda v: v < 50),
    ("hot_sku_join_per_s", "pgbench_hot_sku_join_tps", ">= 750", lambda v: v >= 750),
    ("lag_p50_ms", None, "", lambda v: True),
    ("lag_p99_ms", None, "< 250", lambda v: v < 250),
    ("read_per_s", "echo_rps", ">= 0.6 x echo", lambda v: True),  # checked against the echo below
    ("echo_rps", None, "(ceiling)", lambda v: True),
    ("pgbench_join_tps", None, "(ceiling)", lambda v: True),
    ("errors", None, "0", lambda v: v == 0),
    ("invariant_violations", None, "0", lambda v: v == 0),
    ("idle_cpu_percent", None, "< 5 (one core)", lambda v: v < 5),
]
INFRASTRUCTURE = ("postgres", "kafka")  # the 200 MiB reach is for the services


def reach_met(results: dict[str, Any]) -> dict[str, bool]:
    met = {name: check(float(results[name])) for name, _, _, check in ROWS}
    met["read_per_s"] = results["read_per_s"] >= 0.6 * results["echo_rps"]
    services = [mib for name, mib in results["rss_mib"].items() if name not in INFRASTRUCTURE]
    met["rss_mib"] = all(mib < 200 for mib in services)
    return met


def render(results: dict[str, Any], console: Console) -> None:
    met = reach_met(results)
    table = Table(title="make bench: the join path beside its ceilings")
    for heading in ("figure", "value", "ratio to ceiling", "reach", "met"):
        table.add_column(heading)
    for name, ceiling, reach, _ in ROWS:
        value = results[name]
        ratio = f"{value / results[ceiling]:.2f} x {ceiling}" if ceiling and results[ceiling] else ""
        table.add_row(name, str(value), ratio, reach, "yes" if met[name] else "[red]NO[/red]")
    rss = ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(results["rss_mib"].items()))
    table.add_row("rss_mib (peak)", rss, "", "< 200 each service", "yes" if met["rss_mib"] else "[red]NO[/red]")
    console.print(table)

    per_join = sorted(results["details"]["cpu_ms_per_join"].items(), key=lambda kv: -kv[1])
    console.print("CPU ms per join: " + ", ".join(f"{name} {ms:.2f}" for name, ms in per_join))
    lags = Table(title="event lag, from each event's commit to each consumer's effect")
    for heading in ("consumer", "event", "count", "p50 ms", "p99 ms"):
        lags.add_column(heading)
    for lag in results["details"]["lag_by_consumer"]:
        lags.add_row(lag["consumer"], lag["event"], str(lag["count"]), str(lag["p50_ms"]), str(lag["p99_ms"]))
    console.print(lags)
