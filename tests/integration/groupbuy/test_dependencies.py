"""Eligibility fails closed: with segmentation or membership unreachable, a new-user-only or PLUS-only seat
is refused UNAVAILABLE with a reason naming the service, and nothing is written (no seat, no order)."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from libs.grpckit.errors import reason_of
from services.groupbuy.adapters.eligibility import REGISTRY_UNANSWERED
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.notes import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def groupbuy_options() -> dict[str, Any]:
    # Nothing listens there: segmentation and membership are down for this groupbuy.
    return {
        "segmentation_address": f"127.0.0.1:{free_port()}",
        "membership_address": f"127.0.0.1:{free_port()}",
    }


@pytest.mark.parametrize(
    ("rule", "reason"), [("new_user_only", "SEGMENTATION_UNAVAILABLE"), ("plus_only", "MEMBERSHIP_UNAVAILABLE")]
)
async def test_an_eligibility_check_whose_service_is_down_refuses_unavailable_and_writes_nothing(
    platform: Platform, rule: str, reason: str
) -> None:
    sku = await platform.listing(size=2, **{rule: True})
    buyer = await platform.register()
    before = await platform.row_counts()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.open(buyer, sku)
    assert (refused.value.code(), reason_of(refused.value)) == (grpc.StatusCode.UNAVAILABLE, reason)
    assert "cannot be checked" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as refused_match:
        await platform.auto_match(buyer, sku)
    assert (refused_match.value.code(), reason_of(refused_match.value)) == (grpc.StatusCode.UNAVAILABLE, reason)
    assert await platform.row_counts() == before


async def test_a_group_without_those_rules_does_not_need_them(platform: Platform) -> None:
    sku = await platform.listing(size=2)
    opened = await platform.open(await platform.register(), sku)
    assert opened.seat.leader


async def test_a_registration_already_announced_needs_no_answer_from_segmentation(platform: Platform) -> None:
    sku = await platform.listing(size=2)
    buyer = await platform.register()  # the shop's segmentation announces it; groupbuy's is unreachable

    async def recorded() -> bool:
        sql = f"SELECT count(*) FROM {SCHEMA}.registered_accounts WHERE account_id = $1"  # noqa: S608
        return await platform.count(sql, buyer) == 1

    await eventually(recorded)
    unanswered = REGISTRY_UNANSWERED._value.get()
    assert (await platform.open(buyer, sku)).seat.leader
    assert REGISTRY_UNANSWERED._value.get() == unanswered  # the seat did not rest on failing open


async def test_while_segmentation_is_away_an_account_not_yet_announced_is_given_its_seat(platform: Platform) -> None:
    sku = await platform.listing(size=2)
    unanswered = REGISTRY_UNANSWERED._value.get()
    assert (await platform.open(f"pu_{uuid.uuid4().int % 10**12}", sku)).seat.leader  # failing open, counted
    assert REGISTRY_UNANSWERED._value.get() == unanswered + 1
