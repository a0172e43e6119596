"""The refusals a join, an open or an auto-match makes before its seat statement runs. The seat path
writes through single statements over the pool (not a unit of work), so these tests give the use cases a
pool that fails the test when touched: a refusal here provably writes nothing. What the statements
themselves refuse (a full group, a second seat, the limits, stock) is proven by tests/integration/groupbuy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from libs.core import FailedPrecondition, NotFound
from services.groupbuy.domain.model import Buyer, Group, GroupState, GroupTerms
from services.groupbuy.service_layer import seats
from services.groupbuy.service_layer.context import Context
from services.groupbuy.service_layer.stock import Allotment
from tests.unit.groupbuy.fakes import FakeStockLeases

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
BUYER = Buyer("pu_1000001", "菏泽", 1, "request-1")


class UntouchedPool:
    """A pool that must not be used: the call is refused before anything is read or written."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used ({name})")


class FakeEligibility:
    def __init__(self, *, registered: bool = True, new: bool = True, member: bool = True) -> None:
        self.registered, self.new, self.member = registered, new, member

    async def is_registered(self, user_id: str) -> bool:
        return self.registered

    async def is_new_to_company(self, user_id: str) -> bool:
        return self.new

    async def is_member(self, user_id: str) -> bool:
        return self.member

    async def linked_accounts(self, user_id: str) -> Sequence[str]:
        return []


class FakeListings:
    """Catalog's listings (the Listings port): NOT_LISTED for a SKU without one, as the adapter says."""

    def __init__(self, terms: GroupTerms | None) -> None:
        self.terms = terms

    async def group_terms(self, sku_id: str) -> GroupTerms:
        if self.terms is None:
            raise NotFound(f"SKU {sku_id} has no active pingou listing", reason="NOT_LISTED")
        return self.terms


def terms(**changes: bool) -> GroupTerms:
    flags = {"new_user_only": False, "plus_only": False, "strangers_can_join": True, "auto_match": True} | changes
    return GroupTerms(
        sku_id="sku-hanfu",
        size=3,
        window=timedelta(hours=24),
        group_price_minor=1590,
        leader_price_minor=1590,
        per_user_limit=0,
        **flags,
    )


def context(eligibility: FakeEligibility | None = None, listing: GroupTerms | None = None) -> Context:
    pool = UntouchedPool()
    return Context(
        pool=pool,
        allotment=Allotment(pool, FakeStockLeases(available=0), block=400, clock=lambda: NOW),
        listings=FakeListings(listing),
        eligibility=eligibility or FakeEligibility(),
        topic_prefix="",
        hold=timedelta(minutes=15),
        daily_open_cap=20,
        clock=lambda: NOW,
    )


def invite_only_group() -> Group:
    return Group(
        group_id="g-1",
        sku_id="sku-hanfu",
        leader_user_id="pu_1000009",
        state=GroupState.OPEN,
        size=3,
        seats_taken=1,
        seats_paid=0,
        group_price_minor=1590,
        leader_price_minor=1590,
        per_user_limit=0,
        new_user_only=False,
        plus_only=False,
        strangers_can_join=False,
        auto_match=False,
        share_code="SHARE23456",
        opened_at=NOW,
        expires_at=NOW + timedelta(hours=24),
        closed_at=None,
        flagged=False,
    )


async def test_a_group_taking_members_by_invite_only_refuses_a_join_by_id() -> None:
    ctx = context()
    ctx.remember(invite_only_group())  # its terms, as the cache holds them after its opening
    with pytest.raises(FailedPrecondition) as caught:
        await seats.join_group(ctx, BUYER, group_id="g-1")
    assert caught.value.reason == "INVITE_REQUIRED"


async def test_auto_match_is_refused_for_a_sku_that_does_not_offer_it() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        await seats.auto_match(context(listing=terms(auto_match=False)), BUYER, "sku-hanfu")
    assert caught.value.reason == "AUTO_MATCH_DISABLED"


async def test_no_group_opens_for_a_sku_not_listed() -> None:
    with pytest.raises(NotFound) as caught:
        await seats.open_group(context(listing=None), BUYER, "sku-gone")
    assert caught.value.reason == "NOT_LISTED"


@pytest.mark.parametrize(
    ("eligibility", "listing", "refusal", "reason"),
    [
        (FakeEligibility(registered=False), terms(), NotFound, "USER_NOT_FOUND"),
        (FakeEligibility(new=False), terms(new_user_only=True), FailedPrecondition, "NEW_USERS_ONLY"),
        (FakeEligibility(member=False), terms(plus_only=True), FailedPrecondition, "PLUS_ONLY"),
    ],
    ids=["unregistered buyer", "not new", "not a member"],
)
async def test_a_buyer_the_group_does_not_admit_cannot_open_it(
    eligibility: FakeEligibility, listing: GroupTerms, refusal: type[Exception], reason: str
) -> None:
    with pytest.raises(refusal) as caught:
        await seats.open_group(context(eligibility, listing), BUYER, "sku-hanfu")
    assert getattr(caught.value, "reason", None) == reason


async def test_a_buyer_a_new_user_group_does_not_admit_cannot_join_it() -> None:
    ctx = context(FakeEligibility(new=False))
    ctx.remember(replace(invite_only_group(), strangers_can_join=True, new_user_only=True))
    with pytest.raises(FailedPrecondition) as caught:
        await seats.join_group(ctx, BUYER, group_id="g-1")
    assert caught.value.reason == "NEW_USERS_ONLY"
