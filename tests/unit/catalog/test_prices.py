"""Listing prices and group rules, checked before anything is written."""

from __future__ import annotations

import pytest

from libs.core import BusinessLine, InvalidArgument
from services.catalog.domain.model import GroupRule, Prices, check_prices


def fields(line: BusinessLine, prices: Prices) -> list[str]:
    return [violation.field for violation in prices.violations(line)]


def test_a_sound_mall_and_pingou_listing_pass() -> None:
    check_prices(BusinessLine.MALL, Prices(9900, plus_price_minor=9400))
    check_prices(
        BusinessLine.PINGOU, Prices(9600, group_price_minor=7900, leader_price_minor=7100, group_rule=GroupRule(size=3))
    )


def test_a_plus_price_must_be_below_the_price() -> None:
    assert fields(BusinessLine.MALL, Prices(9900, plus_price_minor=9900)) == ["mall.plus_price_minor"]


def test_group_prices_and_rules_belong_to_pingou_and_plus_prices_to_mall() -> None:
    assert fields(BusinessLine.MALL, Prices(9900, group_price_minor=100, group_rule=GroupRule(size=2))) == ["pingou"]
    assert "mall" in fields(BusinessLine.PINGOU, Prices(9900, plus_price_minor=100))


@pytest.mark.parametrize(
    ("prices", "field"),
    [
        (Prices(1000, group_price_minor=1000, group_rule=GroupRule(size=3)), "pingou.group_price_minor"),
        (
            Prices(1000, group_price_minor=800, leader_price_minor=900, group_rule=GroupRule(size=3)),
            "pingou.leader_price_minor",
        ),
        (Prices(1000, group_price_minor=800, group_rule=GroupRule(size=1)), "pingou.rule.size"),
        (Prices(1000, group_price_minor=800, group_rule=GroupRule(size=51)), "pingou.rule.size"),
        (
            Prices(1000, group_price_minor=800, group_rule=GroupRule(size=3, window_minutes=5)),
            "pingou.rule.window_minutes",
        ),
        (
            Prices(1000, group_price_minor=800, leader_price_minor=700, group_rule=GroupRule(size=3, leader_free=True)),
            "pingou.leader_price_minor",
        ),
        (Prices(1000, group_price_minor=800), "pingou.rule"),
    ],
)
def test_inconsistent_pingou_listings_are_refused(prices: Prices, field: str) -> None:
    assert field in fields(BusinessLine.PINGOU, prices)
    with pytest.raises(InvalidArgument):
        check_prices(BusinessLine.PINGOU, prices)
