"""New-user-only groups (新人团) give one discount per person, claimed in the database with the seat: not
per call, not per account, and not on a cached "new" answer that several racing joins all read."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import grpc
import pytest
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2 as order_pb

from libs.core import BusinessLine
from libs.grpckit.errors import reason_of
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.waiting import eventually


async def _seats_of(platform: Platform, *accounts: str) -> int:
    """Seats not released of these accounts in new-user-only groups."""
    return await platform.count(
        f"""SELECT count(*) FROM {SCHEMA}.seats s JOIN {SCHEMA}.groups g USING (group_id)
        WHERE g.new_user_only AND s.state <> 'released' AND s.user_id = ANY($1::text[])""",  # noqa: S608
        list(accounts),
    )


async def test_one_person_racing_twenty_new_user_joins_across_groups_and_skus_gets_one(platform: Platform) -> None:
    skus = [await platform.listing(size=3, stock=50, new_user_only=True) for _ in range(2)]
    groups = [await platform.open(await platform.register(), skus[i % 2]) for i in range(6)]
    # One person: a mall account with a phone and a WeChat identity, and two pingou accounts, one with
    # each (an identity belongs to one account per line): both are linked to the mall account.
    phone, unionid = f"139{uuid.uuid4().int % 10**8:08d}", f"o6_{uuid.uuid4().hex[:25]}"
    await platform.register(BusinessLine.MALL, phone=phone, unionid=unionid)
    first, second = await platform.register(phone=phone), await platform.register(unionid=unionid)
    before = await platform.count(f"SELECT count(*) FROM {SCHEMA}.new_user_claims")  # noqa: S608

    calls: list[Callable[[], Awaitable[pb.SeatResult]]] = []
    for index in range(20):
        account = (first, second)[index % 2]
        group = groups[index % len(groups)]
        calls.append(
            [
                lambda a=account, g=group: platform.join(a, group_id=g.group.group_id),
                lambda a=account, g=group: platform.join(a, invite_code=g.group.share_code),
                lambda a=account, i=index: platform.auto_match(a, skus[i % 2]),
                lambda a=account, i=index: platform.open(a, skus[i % 2]),
            ][index % 4]
        )
    outcomes = await asyncio.gather(*(call() for call in calls), return_exceptions=True)

    taken = [outcome for outcome in outcomes if isinstance(outcome, pb.SeatResult)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert len(taken) == 1, outcomes
    assert len(refused) == 19
    reasons = Counter((error.code(), reason_of(error)) for error in refused)
    assert set(reasons) <= {
        (grpc.StatusCode.FAILED_PRECONDITION, "NEW_USER_DISCOUNT_TAKEN"),
        # The same account a second time in one group is refused for that first.
        (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_IN_GROUP"),
    }, reasons
    assert await _seats_of(platform, first, second) == 1
    # The winner's account and the mall account it is linked to are claimed, and nothing else.
    after = await platform.count(f"SELECT count(*) FROM {SCHEMA}.new_user_claims")  # noqa: S608
    assert after - before == 2


async def test_a_released_seat_gives_the_claim_back(platform: Platform) -> None:
    sku = await platform.listing(size=2, stock=10, new_user_only=True)
    other_sku = await platform.listing(size=2, stock=10, new_user_only=True)
    buyer = await platform.register()
    held = await platform.open(buyer, sku)
    # Refused while the first seat holds the claim ...
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.open(buyer, other_sku)
    assert reason_of(refused.value) == "NEW_USER_DISCOUNT_TAKEN"

    async def order_placed() -> bool:
        return bool(
            await platform.count("SELECT count(*) FROM order_pingou.orders WHERE order_id = $1", held.order.order_id)
        )

    await eventually(order_placed)
    await platform.shop.orders.CancelOrder(
        order_pb.CancelOrderRequest(order_id=held.order.order_id, idempotency_key=uuid.uuid4().hex),
        metadata=platform.as_user(buyer),
    )

    async def seat_released() -> bool:
        return bool((await platform.seat_row(held.seat.seat_id))["state"] == "released")

    await eventually(seat_released)
    # ... and welcome once the buyer never had the discount.
    again = await platform.open(buyer, other_sku)
    assert again.seat.seat_id != held.seat.seat_id
    assert await _seats_of(platform, buyer) == 1


async def test_a_failed_group_gives_its_members_claims_back(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=10, new_user_only=True)
    buyer = await platform.register()
    opened = await platform.open(buyer, sku)
    await platform.pay(opened)
    await platform.end_window(opened.group.group_id)

    async def failed() -> bool:
        return await platform.group_state(opened.group.group_id) == pb.GROUP_STATE_FAILED

    await eventually(failed)
    assert (await platform.open(buyer, sku)).group.group_id != opened.group.group_id
