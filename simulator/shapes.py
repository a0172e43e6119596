"""The seed's shapes (those of the launch's group-buying day, at a smaller scale) as this run shows them:
the flash start's minutes against the day's average minute, the share of pingou buyers from tier 3 to 6
cities, the mini program's share of pingou orders, and the users pingou brings who are new to the company.
The orders' minutes are read from the order service's tables (each order's `created_at`, placed on the
simulated day by its clock); the rest are analytics' KPIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from pingou.analytics.v1 import analytics_pb2 as analytics

from libs.core import BusinessLine
from simulator.day import DayClock

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
FLASH_AT_LEAST = 3.0  # the flash start's orders per minute, in times the day's average, that show it
PLACED = {
    PINGOU: "SELECT created_at FROM order_pingou.orders WHERE created_at >= $1 AND created_at < $2",
    MALL: "SELECT created_at FROM order_mall.orders WHERE created_at >= $1 AND created_at < $2",
}


@dataclass(frozen=True)
class OrdersByMinute:
    """The simulated minute at which each order of the day was placed, per line."""

    minutes: Mapping[BusinessLine, list[float]]
    day_minutes: float
    flash_minutes: float

    def per_minute(self, line: BusinessLine, start: float, end: float) -> float:
        placed = sum(1 for minute in self.minutes[line] if start <= minute < end)
        return placed / (end - start)

    def flash_ratio(self, line: BusinessLine) -> float:
        average = self.per_minute(line, 0, self.day_minutes)
        return self.per_minute(line, 0, self.flash_minutes) / average if average else 0.0


async def orders_by_minute(
    connection: asyncpg.Connection, clock: DayClock, *, day_started: datetime, until: datetime
) -> OrdersByMinute:
    last = clock.shape.minutes - 1e-6  # an order the platform placed after the day's end counts in its last minute
    minutes = {
        line: [
            min(clock.minute((row["created_at"] - day_started).total_seconds()), last)
            for row in await connection.fetch(query, day_started, until)
        ]
        for line, query in PLACED.items()
    }
    return OrdersByMinute(minutes, clock.shape.minutes, clock.shape.flash_minutes)


@dataclass(frozen=True)
class Shape:
    name: str
    value: str
    reach: str
    shown: bool


def the_seeds_shapes(series: OrdersByMinute, kpis: Mapping[BusinessLine, analytics.Kpis]) -> list[Shape]:
    pingou = kpis[PINGOU]
    ratio = series.flash_ratio(PINGOU)
    flash = series.per_minute(PINGOU, 0, series.flash_minutes)
    return [
        Shape(
            f"pingou orders per minute, first {series.flash_minutes:.0f} minutes / the day's average",
            f"{flash:.1f} / {series.per_minute(PINGOU, 0, series.day_minutes):.2f} = {ratio:.1f}x",
            f">= {FLASH_AT_LEAST:.0f}x",
            ratio >= FLASH_AT_LEAST,
        ),
        Shape(
            "pingou ordering users from tier 3 to 6 cities",
            f"{pingou.tier3_to_6_share:.0%}",
            "the majority",
            pingou.tier3_to_6_share > 0.5,
        ),
        Shape(
            "pingou orders through the WeChat mini program",
            f"{pingou.mini_program_share:.0%}",
            "the majority",
            pingou.mini_program_share > 0.5,
        ),
        Shape(
            "pingou buyers new to the company (their first payment on either line)",
            f"{pingou.new_to_company_users} of {pingou.paying_users} paying users",
            "> 0",
            pingou.new_to_company_users > 0,
        ),
    ]
