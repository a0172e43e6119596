"""Who shops on the day: people with a city (weighted by tier, differently per line), the channel they come
through (pingou mostly through the WeChat mini program), a phone, and an account on one line or both.

The tiers are the platform's own table (libs.core.cities): each city below is checked against it when the
population is drawn, so the weights are the weights of the tiers the services will see.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from libs.core import BusinessLine
from libs.core.cities import CityTiers

K = TypeVar("K")

# Real cities of each tier (tier 6: county-level towns, which the table leaves out), several of them home
# to an industrial belt the demo catalog sells from.
CITIES_BY_TIER: Mapping[int, tuple[str, ...]] = {
    1: ("上海", "北京", "深圳", "广州"),
    2: ("成都", "杭州", "武汉", "郑州", "长沙", "合肥", "济南", "石家庄", "临沂", "徐州", "潍坊", "保定"),
    3: ("赣州", "揭阳", "遵义", "阜阳", "南阳", "信阳", "商丘", "宿迁"),
    4: ("六安", "驻马店", "黄冈", "菏泽", "宿州", "周口", "曲靖", "邵阳", "运城", "玉林", "毕节", "亳州"),
    5: ("汉中", "昭通", "达州", "广安", "天水", "陇南", "巴中", "定西", "固原"),
    6: ("曹县", "沭阳", "义乌", "晋江", "寿光", "砀山", "普宁"),
}

# Share of each line's buyers by city tier: pingou was spun off to reach tiers 3 to 6.
TIER_WEIGHTS: Mapping[BusinessLine, Mapping[int, float]] = {
    BusinessLine.PINGOU: {1: 0.05, 2: 0.13, 3: 0.24, 4: 0.26, 5: 0.18, 6: 0.14},
    BusinessLine.MALL: {1: 0.28, 2: 0.34, 3: 0.15, 4: 0.11, 5: 0.07, 6: 0.05},
}

# Channels by their name in the protos (order and segmentation number them alike).
MINI_PROGRAM, PINGOU_APP, MALL_APP, H5 = (
    "CHANNEL_WECHAT_MINI_PROGRAM",
    "CHANNEL_PINGOU_APP",
    "CHANNEL_MALL_APP",
    "CHANNEL_H5",
)
CHANNEL_WEIGHTS: Mapping[BusinessLine, Mapping[str, float]] = {
    BusinessLine.PINGOU: {MINI_PROGRAM: 0.72, PINGOU_APP: 0.22, H5: 0.06},
    BusinessLine.MALL: {MALL_APP: 0.78, H5: 0.12, MINI_PROGRAM: 0.10},
}


def check_tiers(table: CityTiers | None = None) -> None:
    """Every city sits in the tier it is listed under, by the platform's table; ValueError otherwise."""
    table = table or CityTiers.load()
    wrong = [
        f"{city} (tier {found.tier}, listed under {tier})"
        for tier, cities in CITIES_BY_TIER.items()
        for city in cities
        if (found := table.tier_of(city)).tier != tier
    ]
    if wrong:
        raise ValueError("cities in another tier than the simulator lists them: " + ", ".join(wrong))


def pick(rng: random.Random, weights: Mapping[K, float]) -> K:
    """One key, drawn with its weight."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[key] for key in keys])[0]


@dataclass
class Person:
    """One shopper. `lines` are the lines they hold an account on (their first line first); the account
    ids are filled in once registered."""

    index: int
    lines: tuple[BusinessLine, ...]
    city: str
    tier: int
    channels: Mapping[BusinessLine, str]
    phone: str
    unionid: str
    accounts: dict[BusinessLine, str] = field(default_factory=dict)

    def account(self, line: BusinessLine) -> str:
        return self.accounts[line]


class Population:
    """The people of one run, drawn as the day's plan needs them; phones and WeChat ids are new for every
    run (a new phone is a new person to the company)."""

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._run = secrets.randbelow(10**4)
        self.people: list[Person] = []

    def person(self, lines: Sequence[BusinessLine]) -> Person:
        """A new person with accounts on `lines`, living where their first line's buyers live."""
        rng, index = self._rng, len(self.people)
        tier = pick(rng, TIER_WEIGHTS[lines[0]])
        channels = {line: pick(rng, CHANNEL_WEIGHTS[line]) for line in lines}
        # 11 digits, 1[3-9]..., unique within the run and unlikely to meet another run's.
        phone = f"1{rng.randint(3, 9)}{self._run:04d}{index:05d}"
        person = Person(
            index=index,
            lines=tuple(lines),
            city=rng.choice(CITIES_BY_TIER[tier]),
            tier=tier,
            channels=channels,
            phone=phone,
            unionid=f"oW{secrets.token_urlsafe(18)}",
        )
        self.people.append(person)
        return person

    def on(self, line: BusinessLine) -> list[Person]:
        return [person for person in self.people if line in person.lines]
