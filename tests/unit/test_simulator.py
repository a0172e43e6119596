"""The simulator's day without a platform: its clock, its plan and its people (simulator/day.py,
simulator/population.py), and the shapes it reads back (simulator/shapes.py)."""

from __future__ import annotations

import random

import pytest

from libs.core import BusinessLine
from libs.core.cities import CityTiers
from simulator.day import FLASH_SKU, GROUP_SKUS, DayClock, DayShape, Pay, Volumes, plan_day
from simulator.population import CITIES_BY_TIER, check_tiers
from simulator.run import main
from simulator.shapes import OrdersByMinute

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL


def test_the_flash_start_takes_its_seconds_and_the_rest_of_the_day_the_rest() -> None:
    clock = DayClock(DayShape(), seconds=75, flash_seconds=10)
    assert clock.offset(0) == 0
    assert clock.offset(15) == pytest.approx(10)
    assert clock.offset(24 * 60) == pytest.approx(75)
    for second in (0.5, 3, 10, 11, 40, 74.9):
        assert clock.offset(clock.minute(second)) == pytest.approx(second)
    # The flash start is played slower: more real seconds per simulated minute than the rest.
    assert clock.minutes_per_second(1) < clock.minutes_per_second(600)


def test_a_clock_whose_flash_start_takes_the_whole_day_is_refused() -> None:
    with pytest.raises(ValueError, match="flash start"):
        DayClock(DayShape(), seconds=10, flash_seconds=10)


def test_arrivals_fall_in_the_day_with_the_flash_starts_share() -> None:
    shape, rng = DayShape(), random.Random(1)
    minutes = [shape.arrival(rng, PINGOU) for _ in range(20_000)]
    assert all(0 <= minute < shape.minutes for minute in minutes)
    in_flash = sum(1 for minute in minutes if minute < shape.flash_minutes) / len(minutes)
    assert in_flash == pytest.approx(shape.flash_share[PINGOU], abs=0.01)


def test_the_same_seed_plays_the_same_day() -> None:
    def outline(seed: int) -> list[tuple[str, float, int]]:
        plan = plan_day(DayShape(), Volumes().scaled(0.3), random.Random(seed))
        return [(group.sku, group.leader.minute, len(group.friends)) for group in plan.led_groups]

    assert outline(618) == outline(618)
    assert outline(618) != outline(619)


def test_the_plan_has_the_seeds_shapes_in_its_people_and_channels() -> None:
    plan = plan_day(DayShape(), Volumes(), random.Random(618))
    pingou = plan.population.on(PINGOU)
    lower_tiers = sum(1 for person in pingou if person.tier >= 3) / len(pingou)
    mini_program = sum(1 for person in pingou if person.channels[PINGOU] == "CHANNEL_WECHAT_MINI_PROGRAM") / len(pingou)
    assert lower_tiers > 0.7
    assert mini_program > 0.6
    both = [person for person in pingou if person.lines == (PINGOU, MALL)]
    assert 0.08 < len(both) / len(pingou) < 0.25
    assert len({person.phone for person in plan.population.people}) == len(plan.population.people)


def test_the_plan_leaves_friends_only_groups_to_fail_and_sells_the_flash_sku_out() -> None:
    plan = plan_day(DayShape(), Volumes(), random.Random(618))
    friends = [group for group in plan.led_groups if group.sku == "friends"]
    short = [group for group in friends if len(group.friends) < GROUP_SKUS["friends"].size - 1]
    assert friends
    assert 0 < len(short) < len(friends)
    # Friends who come pay or cancel, so that nothing holds a friends-only group open past its window.
    assert all(visit.checkout.pay is not Pay.NEVER for group in friends for visit in (group.leader, *group.friends))
    assert plan.flash_seats_planned() > sum(1 for match in plan.auto_matches if match.sku == FLASH_SKU) > 0


def test_every_city_is_in_the_tier_the_simulator_lists_it_under() -> None:
    check_tiers()
    table = CityTiers.load()
    assert all(not table.tier_of(city).known for city in CITIES_BY_TIER[6])


def test_a_city_listed_under_another_tier_than_the_tables_is_refused() -> None:
    with pytest.raises(ValueError, match="上海"):
        check_tiers(CityTiers({"上海": 2, **{city: tier for tier in (2, 3, 4, 5) for city in CITIES_BY_TIER[tier]}}))


def test_the_flash_ratio_is_the_flash_starts_orders_per_minute_over_the_days() -> None:
    series = OrdersByMinute({PINGOU: [1.0] * 30 + [600.0] * 114, MALL: []}, day_minutes=1440, flash_minutes=15)
    assert series.flash_ratio(PINGOU) == pytest.approx((30 / 15) / (144 / 1440))
    assert series.flash_ratio(MALL) == 0


def test_a_day_that_cannot_be_played_is_refused_before_the_platform_is_touched() -> None:
    assert main(["--seconds", "5", "--flash-seconds", "10"]) == 2
