"""The city tier table every service shares (libs.core.cities)."""

from __future__ import annotations

import pytest

from libs.core.cities import UNKNOWN_TIER, CityTiers


def test_the_city_table_covers_the_ranking() -> None:
    cities = CityTiers.load()
    assert 330 <= len(cities) <= 340
    assert [cities.tier_of(city).tier for city in ("上海", "成都", "临沂", "菏泽")] == [1, 2, 2, 4]


@pytest.mark.parametrize(
    ("given", "known_as"),
    [
        ("上海市", "上海"),
        ("大理白族自治州", "大理"),
        ("西双版纳傣族自治州", "西双版纳"),
        ("锡林郭勒盟", "锡林郭勒"),
        (" 杭州 ", "杭州"),
    ],
)
def test_official_names_find_the_tables_short_name(given: str, known_as: str) -> None:
    found = CityTiers.load().tier_of(given)
    assert (found.city, found.known) == (known_as, True)


def test_a_county_town_or_foreign_city_is_tier_6_and_unknown() -> None:
    for city in ("曹县", "Springfield"):
        found = CityTiers.load().tier_of(city)
        assert (found.tier, found.known) == (UNKNOWN_TIER, False)
