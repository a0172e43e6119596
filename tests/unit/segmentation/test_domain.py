"""Segmentation's domain rules, without infrastructure."""

from __future__ import annotations

import pytest

from libs.core import BusinessLine, InvalidArgument, format_user_id, user_line
from libs.core.paging import PageTokens
from services.segmentation.domain.identity import identity_hash, normalize
from services.segmentation.domain.model import Channel, IdentityKind, SegmentRule, check_segment_definition
from services.segmentation.domain.paging import PageToken

SALT = b"0123456789abcdef"


def test_the_same_phone_written_differently_hashes_the_same() -> None:
    forms = ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "(138)12345678"]
    assert len({identity_hash(IdentityKind.PHONE, form, salt=SALT) for form in forms}) == 1


def test_hashes_depend_on_the_salt_and_the_kind() -> None:
    phone = identity_hash(IdentityKind.PHONE, "13812345678", salt=SALT)
    assert phone != identity_hash(IdentityKind.PHONE, "13812345678", salt=b"another-salt-value")
    assert identity_hash(IdentityKind.WECHAT_UNIONID, "13812345678", salt=SALT) != phone
    assert b"13812345678" not in phone


@pytest.mark.parametrize("value", ["12345", "23812345678", "1381234567a", ""])
def test_numbers_that_are_not_mainland_mobiles_are_refused(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        normalize(IdentityKind.PHONE, value)
    assert caught.value.reason == "INVALID_IDENTITY"


def test_unionids_are_checked_for_shape() -> None:
    assert normalize(IdentityKind.WECHAT_UNIONID, "oWx_1-AB") == "oWx_1-AB"
    with pytest.raises(InvalidArgument):
        normalize(IdentityKind.WECHAT_UNIONID, "has space")


def test_rules_round_trip_through_their_stored_form() -> None:
    rule = SegmentRule(min_tier=3, max_tier=6, channels=(Channel.WECHAT_MINI_PROGRAM,), new_to_company=True)
    assert rule.to_json() == {"min_tier": 3, "max_tier": 6, "channels": ["wechat_mini_program"], "new_to_company": True}
    assert SegmentRule.from_json(rule.to_json()) == rule


def test_a_rule_reports_every_inconsistency() -> None:
    rule = SegmentRule(min_tier=0, max_tier=7, dormant_days=0, min_orders=5, max_orders=1)
    fields = [violation.field for violation in rule.violations()]
    assert fields == ["rule.min_tier", "rule.max_tier", "rule.dormant_days", "rule.max_orders"]
    with pytest.raises(InvalidArgument):
        check_segment_definition("ok-segment", "", rule)


@pytest.mark.parametrize("segment_id", ["ab", "Upper", "trailing-", "-leading", "has space", "x" * 65])
def test_segment_ids_are_slugs(segment_id: str) -> None:
    with pytest.raises(InvalidArgument):
        check_segment_definition(segment_id, "", SegmentRule())


TOKENS = PageTokens([b"k" * 32], service="segmentation")


def test_page_tokens_round_trip_and_refuse_tampering() -> None:
    token = PageToken("tier-3-6", 2, 1000042)
    assert PageToken.decode(TOKENS, token.encode(TOKENS), segment_id="tier-3-6") == token
    for forged in ("", "!!!", "WzEsMiwzXQ", token.encode(TOKENS)[:-2]):
        with pytest.raises(InvalidArgument):
            PageToken.decode(TOKENS, forged, segment_id="tier-3-6")
    with pytest.raises(InvalidArgument, match="not a page token of this listing"):
        PageToken.decode(TOKENS, token.encode(TOKENS), segment_id="plus")


@pytest.mark.parametrize(
    "position",
    [PageToken("plus", 2**40, 0), PageToken("plus", 0, 0), PageToken("plus", 1, -1), PageToken("plus", 1, 2**63)],
)
def test_a_signed_page_token_beyond_its_columns_is_refused(position: PageToken) -> None:
    with pytest.raises(InvalidArgument, match="names no position of this listing"):
        PageToken.decode(TOKENS, position.encode(TOKENS), segment_id="plus")


def test_user_ids_carry_their_line() -> None:
    assert format_user_id(BusinessLine.PINGOU, 1000001) == "pu_1000001"
    assert user_line("mu_42") is BusinessLine.MALL
    for bad in ("", "pu_", "pu_0", "xu_1", "pu_1x", "pu_" + "9" * 19):
        with pytest.raises(InvalidArgument):
            user_line(bad)
