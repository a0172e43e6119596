"""What the simulator prints: the KPI table from the analytics API (AnalyticsService.GetKpis, both lines over
the run's window), what the day did as the simulator saw it, the seed's shapes, and the checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pingou.analytics.v1 import analytics_pb2 as analytics
from pingou.order.v1 import order_pb2 as order
from rich.console import Console
from rich.table import Table

from libs.core import BusinessLine
from simulator.actors import ProviderLedger
from simulator.checks import Check
from simulator.client import Tally
from simulator.play import DayRecord
from simulator.shapes import Shape

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
LINES = (PINGOU, MALL)


def _yuan(minor: int) -> str:
    return f"¥{minor / 100:,.2f}"


def _channels(kpis: analytics.Kpis) -> str:
    names = {row.channel: row.orders for row in kpis.orders_by_channel}
    return ", ".join(
        f"{order.Channel.Name(channel).removeprefix('CHANNEL_').lower()} {count}"
        for channel, count in sorted(names.items())
    )


def _tiers(kpis: analytics.Kpis) -> str:
    return " ".join(
        f"t{row.city_tier}:{row.users}" for row in sorted(kpis.ordering_users_by_city_tier, key=lambda r: r.city_tier)
    )


KPI_ROWS: list[tuple[str, Callable[[analytics.Kpis], str]]] = [
    ("orders", lambda k: f"{k.orders:,}"),
    ("items", lambda k: f"{k.items:,}"),
    ("GMV (paid)", lambda k: _yuan(k.gmv_minor)),
    ("paying users", lambda k: f"{k.paying_users:,}"),
    ("ordering users", lambda k: f"{k.ordering_users:,}"),
    ("orders by channel", _channels),
    ("mini-program share of orders", lambda k: f"{k.mini_program_share:.1%}"),
    ("ordering users by city tier", _tiers),
    ("tier 3-6 share of ordering users", lambda k: f"{k.tier3_to_6_share:.1%}"),
    ("users new to the company", lambda k: f"{k.new_to_company_users:,}"),
    ("groups opened", lambda k: f"{k.groups_opened:,}"),
    ("groups completed", lambda k: f"{k.groups_completed:,}"),
    ("groups failed", lambda k: f"{k.groups_failed:,}"),
    ("mean time to complete", lambda k: f"{k.mean_completion_seconds:.1f} s"),
    ("seats taken through invites", lambda k: f"{k.invites:,}"),
    ("PLUS memberships sold", lambda k: f"{k.memberships_sold:,}"),
    ("orders refunded", lambda k: f"{k.refunds:,} ({_yuan(k.refunded_minor)})"),
]


def kpi_table(kpis: Mapping[BusinessLine, analytics.Kpis], window: str) -> Table:
    table = Table(title=f"KPIs from the analytics API, {window}")
    table.add_column("KPI")
    for line in LINES:
        table.add_column(line.value, justify="right")
    for name, show in KPI_ROWS:
        table.add_row(name, *(show(kpis[line]) for line in LINES))
    return table


def day_table(record: DayRecord, tally: Tally, ledger: ProviderLedger) -> Table:
    table = Table(title="The day, as the simulator played it")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("groups opened by a leader who shares the code with friends", record.led_groups_opened),
        ("seats taken (opened, joined by invite, auto-matched)", record.seats),
        ("  of them joined through a share code", record.invites_used),
        ("  leaders riding free (团长免单)", record.free_leaders),
        ("mall orders placed", record.mall_orders),
        ("payments confirmed by the provider", ledger.confirmed),
        ("orders never paid (cancelled by the order service after their limit)", record.unpaid),
        ("orders cancelled while paid: the late payment refused and refunded", record.cancelled),
        ("refunds asked after the sale", record.after_sales),
        ("refunds the provider answered", ledger.refunds_answered),
        ("PLUS memberships sold by the provider", ledger.plus_sold),
        (
            "friends-only groups opened (complete with friends, or fail at their window)",
            len(record.friends_only_groups),
        ),
    ]
    for name, count in rows:
        table.add_row(name, f"{count:,}")
    for (method, reason), count in sorted(tally.refused.items()):
        table.add_row(f"refused as expected: {method} {reason}", f"{count:,}")
    for (method, reason), count in sorted(tally.sent_again.items()):
        table.add_row(f"sent again (not there yet): {method} {reason}", f"{count:,}")
    for (method, reason), count in sorted(tally.errors.items()):
        detail = tally.first_error.get((method, reason), "")
        table.add_row(f"[red]error: {method} {reason}[/red] {detail[:80]}", f"[red]{count:,}[/red]")
    return table


def shapes_table(shapes: Sequence[Shape]) -> Table:
    table = Table(title="The seed's shapes, at this scale")
    for heading in ("shape", "this run", "expected", "shown"):
        table.add_column(heading)
    for shape in shapes:
        table.add_row(shape.name, shape.value, shape.reach, "yes" if shape.shown else "[yellow]no[/yellow]")
    return table


def checks_table(checks: Sequence[Check]) -> Table:
    table = Table(title="Invariants and reconciliation, across the databases")
    for heading in ("check", "what it means", "violations", "result"):
        table.add_column(heading)
    for check in checks:
        result = "pass" if check.passed else "[red]FAIL[/red]"
        meaning = f"{check.meaning} ({check.detail})" if check.detail else check.meaning
        table.add_row(check.name, meaning, str(check.violations), result)
    return table


def print_report(
    console: Console,
    *,
    kpis: Mapping[BusinessLine, analytics.Kpis],
    window: str,
    record: DayRecord,
    tally: Tally,
    ledger: ProviderLedger,
    shapes: Sequence[Shape],
    checks: Sequence[Check],
) -> None:
    console.print(day_table(record, tally, ledger))
    console.print(kpi_table(kpis, window))
    console.print(shapes_table(shapes))
    console.print(checks_table(checks))
