"""The scaled group-buying day: its clock and its plan.

**Time.** The day is `DayShape.minutes` simulated minutes (a whole day, from midnight), played in
`seconds` real seconds. The flash start (the first `flash_minutes`, which carry `flash_share` of a line's
orders) is played over `flash_seconds`, the rest of the day over the rest: so the flash start is both a
burst of real calls (two to three times the rest's rate) and, in simulated minutes, many times the average
minute, while its rate stays one the platform of one small machine can take. Windows and payment limits
stay real: a group's 10-minute window is 10 real minutes, longer than the whole run.

**The plan** is drawn up front from a seeded generator (the same seed plays the same day; only the
phones and WeChat ids are new each run): groups opened by leaders who invite friends (who join through
the share code), buyers auto-matched into open groups, mall orders, PLUS purchases; each order with the
way it is paid (most at once, some confirmed late, some never, some cancelled while the payment is on
its way). The groups of the friends-only listing whose friends do not all come are left to fail.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from libs.core import BusinessLine
from simulator.population import Person, Population, pick

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL

# Relative weights of the day's hours after the flash start: quiet nights, a lunch bump, the evening peak.
HOURLY = (
    1.2, 0.8, 0.5, 0.3, 0.3, 0.4, 0.8, 1.4, 2.0, 2.4, 2.6, 2.8,  # 00:00 to 11:59
    3.2, 2.8, 2.4, 2.3, 2.4, 2.6, 3.0, 3.6, 4.4, 4.8, 4.0, 2.6,  # 12:00 to 23:59
)  # fmt: skip


@dataclass(frozen=True)
class DayShape:
    minutes: float = 24 * 60
    flash_minutes: float = 15.0
    flash_share: Mapping[BusinessLine, float] = field(default_factory=lambda: {PINGOU: 0.22, MALL: 0.06})
    hourly: tuple[float, ...] = HOURLY

    def arrival(self, rng: random.Random, line: BusinessLine) -> float:
        """A simulated minute at which someone of `line` comes: in the flash start (front-loaded: it opens
        at midnight) with the line's flash share, otherwise in an hour drawn by its weight."""
        if rng.random() < self.flash_share[line]:
            scale = self.flash_minutes / 2
            # An exponential decay from midnight, cut at the end of the flash start.
            return -scale * math.log(1 - rng.random() * (1 - math.exp(-self.flash_minutes / scale)))
        hour = rng.choices(range(24), weights=self.hourly)[0]
        start = max(hour * 60.0, self.flash_minutes)
        return rng.uniform(start, (hour + 1) * 60.0)


@dataclass(frozen=True)
class DayClock:
    """Simulated minutes <-> seconds since the day began: piecewise linear, the flash start slower."""

    shape: DayShape
    seconds: float
    flash_seconds: float

    def __post_init__(self) -> None:
        if not 0 < self.flash_seconds < self.seconds:
            raise ValueError("the flash start must take some, and not all, of the day's seconds")

    def offset(self, minute: float) -> float:
        """Seconds from the start of the day to the simulated `minute`."""
        flash = self.shape.flash_minutes
        if minute <= flash:
            return max(minute, 0.0) / flash * self.flash_seconds
        rest = min(minute, self.shape.minutes) - flash
        return self.flash_seconds + rest / (self.shape.minutes - flash) * (self.seconds - self.flash_seconds)

    def minute(self, offset: float) -> float:
        """The simulated minute `offset` seconds after the start of the day."""
        flash = self.shape.flash_minutes
        if offset <= self.flash_seconds:
            return max(offset, 0.0) / self.flash_seconds * flash
        rest = (offset - self.flash_seconds) / (self.seconds - self.flash_seconds)
        return flash + rest * (self.shape.minutes - flash)

    def minutes_per_second(self, minute: float) -> float:
        if minute < self.shape.flash_minutes:
            return self.shape.flash_minutes / self.flash_seconds
        return (self.shape.minutes - self.shape.flash_minutes) / (self.seconds - self.flash_seconds)


# --- what is sold: the SKUs the merchants list for the day (set up by simulator.actors.Merchants)


@dataclass(frozen=True)
class GroupSku:
    title: str
    size: int
    group_price_minor: int
    solo_price_minor: int
    window_minutes: int = 1440
    strangers_can_join: bool = True
    auto_match: bool = True
    leader_free: bool = False


@dataclass(frozen=True)
class MallSku:
    title: str
    price_minor: int
    plus_price_minor: int | None = None


GROUP_SKUS: Mapping[str, GroupSku] = {
    # The day's hot deal: pairs, sold in the flash start, on stock that runs out.
    "flash": GroupSku("爆款 两人团", size=2, group_price_minor=990, solo_price_minor=2990),
    "trio": GroupSku("三人团", size=3, group_price_minor=1990, solo_price_minor=3990),
    "five": GroupSku("五人团", size=5, group_price_minor=2990, solo_price_minor=5990),
    "free-leader": GroupSku("团长免单 三人团", size=3, group_price_minor=1590, solo_price_minor=2990, leader_free=True),
    # Only friends the leader invites may join, within catalog's shortest window (10 minutes): the groups
    # whose friends do not all come fail when it ends.
    "friends": GroupSku(
        "好友团",
        size=3,
        group_price_minor=1290,
        solo_price_minor=2590,
        window_minutes=10,
        strangers_can_join=False,
        auto_match=False,
    ),
}
MALL_SKUS: Mapping[str, MallSku] = {
    "rice": MallSku("五常大米 5kg", price_minor=6990, plus_price_minor=5990),
    "pear": MallSku("砀山酥梨 5斤", price_minor=3990),
    "bedding": MallSku("纯棉四件套", price_minor=29900, plus_price_minor=26900),
    "cup": MallSku("保温杯", price_minor=8900),
    "shoes": MallSku("运动鞋", price_minor=19900, plus_price_minor=17900),
}
FLASH_SKU = "flash"
FLASH_STOCK_SHARE = 0.8  # of the seats planned on the flash SKU: it sells out


# --- the plan


class Pay(StrEnum):
    PROMPT = "prompt"  # pays at once; the provider confirms within a simulated minute or two
    LATE = "late"  # pays, and the provider's confirmation comes many simulated minutes later, still in time
    NEVER = "never"  # leaves the checkout: the order service's timer cancels the order after its limit
    CANCELLED = "cancelled"  # pays and cancels at once; the confirmation comes after the cancel: refunded


PAY_WEIGHTS: Mapping[Pay, float] = {Pay.PROMPT: 0.80, Pay.LATE: 0.12, Pay.NEVER: 0.05, Pay.CANCELLED: 0.03}
# Friends who come pay (or cancel): an unpaid hold would keep a friends-only group open past its window
# until the hold's limit, and it is meant to fail when the window ends.
FRIENDS_PAY_WEIGHTS: Mapping[Pay, float] = {Pay.PROMPT: 0.85, Pay.LATE: 0.12, Pay.CANCELLED: 0.03}


@dataclass(frozen=True)
class Checkout:
    pay: Pay
    pay_after: float  # simulated minutes from the order to paying
    confirm_after: float  # simulated minutes from paying to the provider's confirmation

    @classmethod
    def draw(cls, rng: random.Random, weights: Mapping[Pay, float] = PAY_WEIGHTS) -> Checkout:
        pay = pick(rng, weights)
        confirm = rng.uniform(5, 15) if pay is Pay.LATE else rng.uniform(0.05, 1.0)
        return cls(pay, pay_after=rng.uniform(0.1, 2.0), confirm_after=confirm)


@dataclass(frozen=True)
class SeatVisit:
    person: Person
    minute: float
    checkout: Checkout


@dataclass(frozen=True)
class LedGroup:
    """A leader opens a group and shares its code; the friends join through it, each at their minute."""

    sku: str
    leader: SeatVisit
    friends: tuple[SeatVisit, ...]


@dataclass(frozen=True)
class AutoMatch:
    sku: str
    seat: SeatVisit


@dataclass(frozen=True)
class MallVisit:
    person: Person
    minute: float
    items: tuple[tuple[str, int], ...]  # mall SKU key, quantity
    checkout: Checkout
    after_sale_after: float | None  # simulated minutes after paying the buyer asks for a refund, if they do


@dataclass(frozen=True)
class PlusPurchase:
    person: Person
    line: BusinessLine
    minute: float
    plan: str  # membership Plan name: PLAN_TRIAL, PLAN_MONTHLY, PLAN_ANNUAL


@dataclass(frozen=True)
class Volumes:
    """How much happens at scale 1; `scaled` multiplies every count (at least one of each)."""

    led_groups: int = 110
    auto_matches: int = 300
    mall_visits: int = 240
    plus_purchases: int = 36
    both_lines_share: float = 0.15  # of pingou buyers who also shop on the mall, with the same phone
    after_sale_share: float = 0.05  # of paid mall orders

    def scaled(self, scale: float) -> Volumes:
        def times(count: int) -> int:
            return max(1, round(count * scale))

        return Volumes(
            led_groups=times(self.led_groups),
            auto_matches=times(self.auto_matches),
            mall_visits=times(self.mall_visits),
            plus_purchases=times(self.plus_purchases),
            both_lines_share=self.both_lines_share,
            after_sale_share=self.after_sale_share,
        )


LED_SKU_WEIGHTS = {"flash": 0.10, "trio": 0.25, "five": 0.20, "free-leader": 0.15, "friends": 0.30}
AUTO_SKU_WEIGHTS = {"flash": 0.45, "trio": 0.20, "five": 0.20, "free-leader": 0.15}
FLASH_AUTO_SKU_WEIGHTS = {"flash": 0.70, "trio": 0.10, "five": 0.10, "free-leader": 0.10}
PLUS_PLAN_WEIGHTS = {"PLAN_TRIAL": 0.5, "PLAN_MONTHLY": 0.3, "PLAN_ANNUAL": 0.2}


@dataclass
class DayPlan:
    shape: DayShape
    population: Population
    led_groups: list[LedGroup] = field(default_factory=list)
    auto_matches: list[AutoMatch] = field(default_factory=list)
    mall_visits: list[MallVisit] = field(default_factory=list)
    plus_purchases: list[PlusPurchase] = field(default_factory=list)

    def visits(self) -> int:
        """Each person's turn at something (a seat, a mall order, a purchase): the progress bar's unit."""
        seats = sum(1 + len(group.friends) for group in self.led_groups) + len(self.auto_matches)
        return seats + len(self.mall_visits) + len(self.plus_purchases)

    def flash_seats_planned(self) -> int:
        led = sum(1 + len(group.friends) for group in self.led_groups if group.sku == FLASH_SKU)
        return led + sum(1 for match in self.auto_matches if match.sku == FLASH_SKU)


def plan_day(shape: DayShape, volumes: Volumes, rng: random.Random) -> DayPlan:
    population = Population(rng)
    plan = DayPlan(shape, population)
    last = shape.minutes - 1

    def pingou_person() -> Person:
        both = rng.random() < volumes.both_lines_share
        return population.person([PINGOU, MALL] if both else [PINGOU])

    for _ in range(volumes.led_groups):
        sku = pick(rng, LED_SKU_WEIGHTS)
        size = GROUP_SKUS[sku].size
        minute = shape.arrival(rng, PINGOU)
        weights = PAY_WEIGHTS
        if sku == "friends":  # most leaders' friends all come; the others' groups are left to fail
            coming = size - 1 if rng.random() < 0.7 else rng.randint(0, size - 2)
            weights = FRIENDS_PAY_WEIGHTS
        else:  # strangers, auto-matched, fill the rest
            coming = rng.randint(1, size - 1)
        friends = tuple(
            SeatVisit(pingou_person(), min(minute + rng.uniform(1, 40), last), Checkout.draw(rng, weights))
            for _ in range(coming)
        )
        leader = SeatVisit(pingou_person(), minute, Checkout.draw(rng, weights))
        plan.led_groups.append(LedGroup(sku, leader, friends))

    for _ in range(volumes.auto_matches):
        minute = shape.arrival(rng, PINGOU)
        choice = FLASH_AUTO_SKU_WEIGHTS if minute < shape.flash_minutes else AUTO_SKU_WEIGHTS
        plan.auto_matches.append(AutoMatch(pick(rng, choice), SeatVisit(pingou_person(), minute, Checkout.draw(rng))))

    # The mall's own buyers, and the pingou buyers who hold a mall account too (with the same phone).
    mall_people = [population.person([MALL]) for _ in range(volumes.mall_visits)]
    mall_people += [person for person in population.people if person.lines == (PINGOU, MALL)]
    for person in mall_people:
        skus = rng.sample(sorted(MALL_SKUS), k=rng.choices((1, 2, 3), weights=(0.6, 0.3, 0.1))[0])
        items = tuple((sku, 1 if rng.random() < 0.8 else 2) for sku in skus)
        checkout = Checkout.draw(rng)
        paid = checkout.pay in (Pay.PROMPT, Pay.LATE)
        after_sale = rng.uniform(30, 240) if paid and rng.random() < volumes.after_sale_share else None
        plan.mall_visits.append(MallVisit(person, shape.arrival(rng, MALL), items, checkout, after_sale))

    # PLUS: mostly mall buyers, a while before their order (so that it gets the PLUS price), and a few
    # pingou buyers; once each.
    buyers = rng.sample(plan.mall_visits, k=min(len(plan.mall_visits), round(volumes.plus_purchases * 0.75)))
    for visit in buyers:
        minute = max(0.0, visit.minute - rng.uniform(5, 60))
        plan.plus_purchases.append(PlusPurchase(visit.person, MALL, minute, pick(rng, PLUS_PLAN_WEIGHTS)))
    pingou_only = [person for person in population.people if person.lines == (PINGOU,)]
    for person in rng.sample(pingou_only, k=min(len(pingou_only), volumes.plus_purchases - len(buyers))):
        plan.plus_purchases.append(PlusPurchase(person, PINGOU, rng.uniform(0, last), pick(rng, PLUS_PLAN_WEIGHTS)))
    return plan
