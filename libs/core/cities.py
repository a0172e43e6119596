"""City tiers (1 to 6) from the table shipped beside this module (data/city_tiers.csv names its ranking),
shared by the services that place users and orders in a tier: segmentation (a user's city) and analytics
(an order's shipping city), so both put a city in the same tier.

Cities in the file are tiers 1 to 5; anything else (county-level towns, misspellings, foreign cities)
is tier 6 and reported as unknown, so analysts can see how much falls outside the table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

UNKNOWN_TIER = 6
DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "city_tiers.csv"
# Suffixes of official names that the file's short names leave out.
_SUFFIXES = ("特别行政区", "朝鲜族自治州", "自治州", "地区", "市", "盟")


@dataclass(frozen=True, slots=True)
class CityTier:
    city: str  # the name as the table knows it, or the given name when unknown
    tier: int
    known: bool


class CityTiers:
    def __init__(self, tiers: dict[str, int]):
        if not tiers:
            raise ValueError("the city tier table is empty")
        self._tiers = tiers

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE) -> CityTiers:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
        tiers = {}
        for row in csv.DictReader(lines):
            tier = int(row["tier"])
            if not 1 <= tier < UNKNOWN_TIER:
                raise ValueError(f"{path}: {row['city']} has tier {tier}, expected 1 to 5")
            tiers[row["city"].strip()] = tier
        return cls(tiers)

    def __len__(self) -> int:
        return len(self._tiers)

    def tier_of(self, city: str) -> CityTier:
        name = city.strip()
        for candidate in self._candidates(name):
            if candidate in self._tiers:
                return CityTier(candidate, self._tiers[candidate], known=True)
        return CityTier(name, UNKNOWN_TIER, known=False)

    def _candidates(self, name: str) -> list[str]:
        candidates = [name]
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix) + 1:
                candidates.append(name[: -len(suffix)])
        if name.endswith(("自治州", "地区", "盟")):
            # "西双版纳傣族自治州" -> "西双版纳": an official name starts with the short name the table uses.
            prefixes = [known for known in self._tiers if len(known) >= 2 and name.startswith(known)]
            candidates.extend(sorted(prefixes, key=len, reverse=True))
        return candidates
