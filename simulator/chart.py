"""The run's PNG (matplotlib's Agg canvas, no display needed): orders per minute of the simulated day by line,
buyers by city tier, and the users each line brought who are new to the company. Labels are ASCII (tiers,
not city names), so no CJK font is needed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pingou.analytics.v1 import analytics_pb2 as analytics

from libs.core import BusinessLine
from simulator.shapes import OrdersByMinute

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
COLOURS = {PINGOU: "#e4393c", MALL: "#2f6fb3"}  # pingou red, mall blue
BIN_MINUTES = 10
TIERS = range(1, 7)


def write_chart(path: Path, series: OrdersByMinute, kpis: Mapping[BusinessLine, analytics.Kpis]) -> Path:
    figure = Figure(figsize=(12, 8), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 2, height_ratios=(3, 2))
    _orders_per_minute(figure.add_subplot(grid[0, :]), series)
    _buyers_by_tier(figure.add_subplot(grid[1, 0]), kpis)
    _new_to_company(figure.add_subplot(grid[1, 1]), kpis)
    figure.suptitle("Group-buying day (simulated)", fontsize=14)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def _orders_per_minute(axes: Axes, series: OrdersByMinute) -> None:
    bins = int(series.day_minutes // BIN_MINUTES)
    for line in (PINGOU, MALL):
        counts = [0] * bins
        for minute in series.minutes[line]:
            counts[min(int(minute // BIN_MINUTES), bins - 1)] += 1
        hours = [index * BIN_MINUTES / 60 for index in range(bins)]
        axes.step(hours, [count / BIN_MINUTES for count in counts], where="post", color=COLOURS[line], label=line.value)
    axes.axvspan(0, series.flash_minutes / 60, color="#f5c542", alpha=0.35, label="flash start")
    ratio = series.flash_ratio(PINGOU)
    axes.set_title(
        f"Orders per minute by line ({BIN_MINUTES}-minute bins); pingou flash start: {ratio:.1f}x the day's average"
    )
    axes.set_xlabel("simulated time of day (hours)")
    axes.set_ylabel("orders per minute")
    axes.set_xlim(0, series.day_minutes / 60)
    axes.set_xticks(range(0, 25, 2))
    axes.legend()


def _buyers_by_tier(axes: Axes, kpis: Mapping[BusinessLine, analytics.Kpis]) -> None:
    width = 0.4
    for offset, line in ((-width / 2, PINGOU), (width / 2, MALL)):
        users = {row.city_tier: row.users for row in kpis[line].ordering_users_by_city_tier}
        axes.bar(
            [tier + offset for tier in TIERS],
            [users.get(tier, 0) for tier in TIERS],
            width,
            color=COLOURS[line],
            label=line.value,
        )
    axes.set_xticks(list(TIERS), [f"tier {tier}" for tier in TIERS])
    axes.set_title("Buyers by city tier (ordering users)")
    axes.set_ylabel("users")
    axes.legend()


def _new_to_company(axes: Axes, kpis: Mapping[BusinessLine, analytics.Kpis]) -> None:
    """Paying users whose first payment in the company is on the line, and those who had paid on the other
    line first (a person with accounts on both, linked by their phone)."""
    lines = (PINGOU, MALL)
    new = [kpis[line].new_to_company_users for line in lines]
    known = [max(0, kpis[line].paying_users - kpis[line].new_to_company_users) for line in lines]
    names = [line.value for line in lines]
    axes.bar(names, new, color=[COLOURS[line] for line in lines], label="new to the company")
    axes.bar(names, known, bottom=new, color="#bbbbbb", label="had paid on the other line first")
    axes.set_title("Users new to the company brought by each line")
    axes.set_ylabel("paying users")
    axes.legend()
