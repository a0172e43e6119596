"""Groupbuy's rules that need no infrastructure: hold deadlines, prices, days, reasons, page tokens,
request validation and eligibility."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial

import pytest
from pingou.groupbuy.v1 import groupbuy_pb2 as pb

from libs.core import FailedPrecondition, InvalidArgument
from libs.core.paging import PageTokens
from services.groupbuy.domain.model import (
    INVITE_ALPHABET,
    INVITE_CODE_LENGTH,
    Group,
    GroupState,
    leader_price,
    new_invite_code,
    pay_by,
    shanghai_day,
)
from services.groupbuy.domain.paging import (
    OpenGroupsPage,
    UserGroupsPage,
    decode_open_groups,
    decode_user_groups,
    encode_open_groups,
    encode_user_groups,
)
from services.groupbuy.entrypoints.validation import validate_join, validate_list_open, validate_open
from services.groupbuy.service_layer.context import Context
from services.groupbuy.service_layer.seats import check_eligibility

NOW = datetime(2026, 6, 18, 10, 0, tzinfo=UTC)
GROUP = Group(
    group_id="9b0c3c86-3f5e-4a55-9f0e-0a4d7d3b1a11",
    sku_id="sku-1",
    leader_user_id="pu_1",
    state=GroupState.OPEN,
    size=3,
    seats_taken=3,
    seats_paid=1,
    group_price_minor=1590,
    leader_price_minor=0,
    per_user_limit=0,
    new_user_only=False,
    plus_only=False,
    strangers_can_join=True,
    auto_match=True,
    share_code="ABCDEFGHJK",
    opened_at=NOW - timedelta(hours=1),
    expires_at=NOW + timedelta(hours=1),
    closed_at=None,
    flagged=False,
)


def test_a_hold_lasts_the_payment_limit_but_never_past_the_window() -> None:
    assert pay_by(NOW, timedelta(minutes=15), NOW + timedelta(hours=1)) == NOW + timedelta(minutes=15)
    assert pay_by(NOW, timedelta(minutes=15), NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)


def test_the_leader_pays_nothing_when_free_else_the_leader_price_else_the_group_price() -> None:
    assert leader_price(1590, 990, leader_free=True) == 0
    assert leader_price(1590, 990, leader_free=False) == 990
    assert leader_price(1590, 0, leader_free=False) == 1590


def test_the_daily_cap_counts_days_in_shanghai_time() -> None:
    assert shanghai_day(datetime(2026, 6, 18, 15, 59, tzinfo=UTC)) == date(2026, 6, 18)
    assert shanghai_day(datetime(2026, 6, 18, 16, 0, tzinfo=UTC)) == date(2026, 6, 19)


def test_invite_codes_use_the_alphabet_without_look_alikes() -> None:
    codes = {new_invite_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == INVITE_CODE_LENGTH and set(code) <= set(INVITE_ALPHABET) for code in codes)


@pytest.mark.parametrize(
    ("group", "reason"),
    [
        (GROUP, "GROUP_FULL"),
        (replace(GROUP, state=GroupState.COMPLETED, closed_at=NOW), "GROUP_COMPLETED"),
        (replace(GROUP, state=GroupState.FAILED, closed_at=NOW), "GROUP_FAILED"),
        (replace(GROUP, seats_taken=1, expires_at=NOW), "GROUP_EXPIRED"),
    ],
)
def test_a_refused_seat_says_why(group: Group, reason: str) -> None:
    assert group.why_no_seat(NOW).reason == reason


TOKENS = PageTokens([b"k" * 32], service="groupbuy")


def test_page_tokens_round_trip_and_belong_to_their_listing() -> None:
    page = OpenGroupsPage(4, NOW, GROUP.group_id)
    assert decode_open_groups(TOKENS, encode_open_groups(TOKENS, page, sku_id="sku-1"), sku_id="sku-1") == page
    mine = UserGroupsPage(NOW, GROUP.group_id)
    assert decode_user_groups(TOKENS, encode_user_groups(TOKENS, mine, user_id="pu_1"), user_id="pu_1") == mine
    with pytest.raises(InvalidArgument) as other_sku:
        decode_open_groups(TOKENS, encode_open_groups(TOKENS, page, sku_id="sku-1"), sku_id="sku-2")
    assert other_sku.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(InvalidArgument):
        decode_user_groups(TOKENS, encode_open_groups(TOKENS, page, sku_id="pu_1"), user_id="pu_1")


FAR_WEST = timezone(-timedelta(hours=14))
LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=FAR_WEST)  # after year 9999 in UTC
EARLY = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # before year 1 in UTC


@pytest.mark.parametrize(
    "page",
    [
        OpenGroupsPage(2**40, NOW, GROUP.group_id),  # int4 overflow in the query
        OpenGroupsPage(-1, NOW, GROUP.group_id),
        OpenGroupsPage(3, EARLY, GROUP.group_id),
        OpenGroupsPage(3, LATE, GROUP.group_id),
        OpenGroupsPage(3, NOW, "not-a-uuid"),
        UserGroupsPage(EARLY, GROUP.group_id),
        UserGroupsPage(LATE, GROUP.group_id),
        UserGroupsPage(NOW, GROUP.group_id.upper()),
    ],
)
def test_a_signed_page_token_out_of_range_is_a_bad_page_token(page: OpenGroupsPage | UserGroupsPage) -> None:
    decode: Callable[[], object]
    if isinstance(page, OpenGroupsPage):
        decode = partial(decode_open_groups, TOKENS, encode_open_groups(TOKENS, page, sku_id="sku-1"), sku_id="sku-1")
    else:
        decode = partial(decode_user_groups, TOKENS, encode_user_groups(TOKENS, page, user_id="pu_1"), user_id="pu_1")
    with pytest.raises(InvalidArgument) as refused:
        decode()
    assert refused.value.reason == "INVALID_PAGE_TOKEN"


def _buyer(**changes: object) -> pb.Buyer:
    return pb.Buyer(**{"user_id": "pu_1", "shipping_city": "临沂", "channel": 2, "idempotency_key": "k", **changes})  # type: ignore[arg-type]


def test_validation_names_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_open(pb.OpenGroupRequest(buyer=_buyer(user_id="x", channel=0, idempotency_key=""), sku_id=""))
    fields = {violation.field for violation in error.value.violations}
    assert fields == {"buyer.user_id", "buyer.channel", "buyer.idempotency_key", "sku_id"}
    validate_open(pb.OpenGroupRequest(buyer=_buyer(), sku_id="sku-1"))


def test_a_join_names_its_group_by_id_or_invite_code() -> None:
    validate_join(pb.JoinGroupRequest(buyer=_buyer(), group_id=GROUP.group_id))
    validate_join(pb.JoinGroupRequest(buyer=_buyer(), invite_code="ABCDEFGHJK"))
    for bad in (
        pb.JoinGroupRequest(buyer=_buyer()),
        pb.JoinGroupRequest(buyer=_buyer(), invite_code="abcdefghjk"),
        pb.JoinGroupRequest(buyer=_buyer(), group_id="g-1"),
    ):
        with pytest.raises(InvalidArgument):
            validate_join(bad)
    with pytest.raises(InvalidArgument):
        validate_list_open(pb.ListOpenGroupsRequest(sku_id="sku-1", page_size=500))


class FakeEligibility:
    def __init__(self, *, new: bool, member: bool):
        self.new, self.member = new, member
        self.asked: list[str] = []

    async def is_new_to_company(self, user_id: str) -> bool:
        self.asked.append("new")
        await asyncio.sleep(0)
        return self.new

    async def is_member(self, user_id: str) -> bool:
        self.asked.append("member")
        return self.member

    async def is_registered(self, user_id: str) -> bool:
        return True

    async def linked_accounts(self, user_id: str) -> list[str]:
        self.asked.append("linked")
        return ["mu_7"]


def _context(eligibility: FakeEligibility) -> Context:
    return Context(
        pool=None,
        allotment=None,  # type: ignore[arg-type]  # not reached by eligibility
        listings=None,  # type: ignore[arg-type]
        eligibility=eligibility,
        topic_prefix="",
        hold=timedelta(minutes=15),
        daily_open_cap=20,
        clock=lambda: NOW,
    )


@pytest.mark.parametrize(
    ("new", "member", "reason"), [(False, True, "NEW_USERS_ONLY"), (True, False, "PLUS_ONLY"), (True, True, None)]
)
async def test_each_eligibility_refusal_has_its_own_reason(new: bool, member: bool, reason: str | None) -> None:
    eligibility = FakeEligibility(new=new, member=member)
    if reason is None:
        claims = await check_eligibility(_context(eligibility), "pu_1", new_user_only=True, plus_only=True)
        assert claims == ("pu_1", "mu_7")  # the new-user seat claims the person's every account
    else:
        with pytest.raises(FailedPrecondition) as refused:
            await check_eligibility(_context(eligibility), "pu_1", new_user_only=True, plus_only=True)
        assert refused.value.reason == reason


async def test_only_the_checks_a_group_asks_for_are_made() -> None:
    eligibility = FakeEligibility(new=False, member=False)
    await check_eligibility(_context(eligibility), "pu_1", new_user_only=False, plus_only=False)
    assert eligibility.asked == []
