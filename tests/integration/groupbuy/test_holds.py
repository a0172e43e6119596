"""Holds: an unpaid hold expires (the order service cancels the order once its pay_by, and the grace for
confirming a payment made by then, passed) and frees the seat for
another buyer (flow 4); a hold no order event ever ends is released by the backstop; the rules a seat
must pass (per-user limit, daily cap, invites only) each refuse with their own reason."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from pingou.groupbuy.v1 import events_pb2 as events
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2 as order_pb

from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from libs.database import create_pool
from libs.grpckit.errors import reason_of
from services.groupbuy.adapters.repository import GroupRepository
from services.groupbuy.domain.model import ReleaseReason
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra

HOLD_SECONDS = 3


@pytest.fixture(scope="module")
def groupbuy_options() -> dict[str, Any]:
    return {"hold_minutes": HOLD_SECONDS / 60, "hold_backstop_grace_minutes": 1 / 60, "daily_open_cap": 3}


async def test_flow_4_an_unpaid_hold_expires_and_another_buyer_takes_the_seat(platform: Platform) -> None:
    sku = await platform.listing(size=2, stock=5)
    leader, slow, fast = [await platform.register() for _ in range(3)]
    opened = await platform.open(leader, sku)
    await platform.pay(opened)
    group_id = opened.group.group_id
    held = await platform.join(slow, group_id=group_id)
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await platform.join(fast, group_id=group_id)
    assert reason_of(full.value) == "GROUP_FULL"
    await platform.shop.get(held.order.order_id)  # placed from SeatHeld
    # The hold's payment time runs out, and the grace for confirming a payment made in it passes.
    await platform.expire_unpaid_orders(group_id)

    async def freed() -> bool:
        return (await platform.get_group(group_id)).seats_taken == 1

    await eventually(freed, timeout=HOLD_SECONDS + 20)
    assert await platform.shop.state_of(held.order.order_id) == order_pb.ORDER_STATE_CANCELLED
    taken = await platform.join(fast, group_id=group_id)
    await platform.pay(taken)

    async def completed() -> bool:
        return await platform.group_state(group_id) == pb.GROUP_STATE_COMPLETED

    await eventually(completed)
    group = await platform.get_group(group_id)
    assert {seat.user_id for seat in group.seats} == {leader, fast}
    released = [e for e in await platform.events_of(group_id) if isinstance(e, events.SeatReleased)]
    assert [(e.user_id, e.reason) for e in released] == [(slow, events.RELEASE_REASON_ORDER_CANCELLED)]

    async def stock_settled() -> bool:  # the expired hold's unit came back; the two sold are committed
        return await platform.stock(sku) == (3, 0)

    await eventually(stock_settled)


async def test_a_hold_without_any_order_event_is_released_by_the_backstop(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=5)
    leader, member = await platform.register(), await platform.register()
    opened = await platform.open(leader, sku)
    joined = await platform.join(member, group_id=opened.group.group_id)
    assert (await platform.seat_row(joined.seat.seat_id))["order_id"] == joined.order.order_id  # named at hold
    await platform.shop.get(joined.order.order_id)  # and placed by the order service from SeatHeld

    # As if the seat had been held before seats named their orders, and its order were never placed; its
    # payment time ran out long ago (no payment of it can still be confirmed in time).
    await platform.fetch(
        f"""UPDATE {SCHEMA}.seats SET order_id = NULL, pay_by = now() - interval '2 minutes' - $2::interval
        WHERE seat_id = $1""",  # noqa: S608
        uuid.UUID(joined.seat.seat_id),
        PAYMENT_CONFIRMATION_GRACE,
    )

    async def released() -> bool:
        rows = await platform.fetch(
            f"SELECT state, release_reason FROM {SCHEMA}.seats WHERE seat_id = $1",  # noqa: S608
            uuid.UUID(joined.seat.seat_id),
        )
        return (rows[0]["state"], rows[0]["release_reason"]) == ("released", "hold_expired")

    await eventually(released)


async def test_each_rule_refuses_with_its_own_reason_and_writes_nothing(platform: Platform) -> None:
    limited = await platform.listing(size=5, stock=50, per_user_limit=1)
    invite_only = await platform.listing(size=5, stock=50, strangers_can_join=False, auto_match=False)
    plus_only = await platform.listing(size=5, stock=50, plus_only=True)
    buyer, other = await platform.register(), await platform.register()

    first = await platform.open(other, limited)
    await platform.join(buyer, group_id=first.group.group_id)
    second = await platform.open(await platform.register(), limited)

    async def refused(call: Any) -> tuple[grpc.StatusCode, str | None]:
        before = await platform.row_counts()
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert await platform.row_counts() == before
        return error.value.code(), reason_of(error.value)

    assert await refused(platform.join(buyer, group_id=first.group.group_id)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "ALREADY_IN_GROUP",
    )
    assert await refused(platform.join(buyer, group_id=second.group.group_id)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PER_USER_LIMIT_REACHED",
    )
    closed = await platform.open(other, invite_only)
    assert await refused(platform.join(buyer, group_id=closed.group.group_id)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVITE_REQUIRED",
    )
    assert await refused(platform.auto_match(buyer, invite_only)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "AUTO_MATCH_DISABLED",
    )
    assert await refused(platform.open(buyer, plus_only)) == (grpc.StatusCode.FAILED_PRECONDITION, "PLUS_ONLY")
    await platform.shop.buy_trial(buyer)
    await platform.open(buyer, plus_only)  # a PLUS member may

    # `other` has now opened three groups today, the cap.
    await platform.open(other, invite_only)
    assert await refused(platform.open(other, invite_only)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "DAILY_OPEN_LIMIT_REACHED",
    )
    assert await refused(platform.join(buyer, invite_code="ZZZZZZZZZZ")) == (
        grpc.StatusCode.NOT_FOUND,
        "INVITE_CODE_NOT_FOUND",
    )


async def test_a_seat_without_stock_left_is_refused_out_of_stock_and_writes_nothing(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=1)
    leader, member, late_leader = [await platform.register() for _ in range(3)]
    opened = await platform.open(leader, sku)  # takes the only unit (groupbuy leases it from catalog)
    await platform.shop.get(opened.order.order_id)  # placed from SeatHeld: counted in `before`
    before = await platform.row_counts()
    with pytest.raises(grpc.aio.AioRpcError) as joining:
        await platform.join(member, group_id=opened.group.group_id)
    assert joining.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(joining.value) == "OUT_OF_STOCK"
    with pytest.raises(grpc.aio.AioRpcError) as opening:
        await platform.open(late_leader, sku)
    assert reason_of(opening.value) == "OUT_OF_STOCK"

    # Refused in the seat's own statement: no seat, no group, no event, no daily-cap slot used.
    assert await platform.row_counts() == before
    assert (await platform.get_group(opened.group.group_id)).seats_taken == 1
    assert await platform.count(f"SELECT count(*) FROM {SCHEMA}.groups WHERE leader_user_id = $1", late_leader) == 0  # noqa: S608
    assert await platform.stock(sku) == (0, 1)


async def test_a_retried_call_with_the_same_key_returns_the_first_seat_and_order(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=10)
    leader, member = await platform.register(), await platform.register()
    first = await platform.open(leader, sku, key="open-1")
    again = await platform.open(leader, sku, key="open-1")
    assert (again.group.group_id, again.seat.seat_id, again.order.order_id) == (
        first.group.group_id,
        first.seat.seat_id,
        first.order.order_id,
    )
    joined = await platform.join(member, group_id=first.group.group_id, key="join-1")
    rejoined = await platform.join(member, group_id=first.group.group_id, key="join-1")
    assert (rejoined.seat.seat_id, rejoined.order.order_id) == (joined.seat.seat_id, joined.order.order_id)
    assert (await platform.get_group(first.group.group_id)).seats_taken == 2
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await platform.join(member, group_id=first.group.group_id, key="join-2")
    assert reason_of(twice.value) == "ALREADY_IN_GROUP"


async def test_releasing_one_buyers_seats_in_two_groups_of_a_sku_at_once_frees_both_counts(
    platform: Platform,
) -> None:
    sku = await platform.listing(size=3, stock=10, per_user_limit=2)
    buyer = await platform.register()
    opened = [await platform.open(await platform.register(), sku) for _ in range(2)]
    joined = [await platform.join(buyer, group_id=result.group.group_id) for result in opened]
    assert await platform.counter_drift() == []

    # One batch releasing both (as the backstop or a failed group does): the buyer's count of open groups
    # of the SKU drops by two, not one, so the per-user limit does not keep refusing them.
    pool = await create_pool(platform.database_url, schema=SCHEMA, application_name="test-release")
    try:
        released = await GroupRepository(pool).release_seats(
            [result.seat.seat_id for result in joined], reason=ReleaseReason.HOLD_EXPIRED, at=datetime.now(UTC)
        )
    finally:
        await pool.close()
    assert len(released) == 2
    assert await platform.counter_drift() == []
    rows = await platform.fetch(
        f"SELECT active FROM {SCHEMA}.user_sku_groups WHERE user_id = $1 AND sku_id = $2",  # noqa: S608
        buyer,
        sku,
    )
    assert [row["active"] for row in rows] == [0]


async def test_the_backstop_leaves_a_hold_whose_order_is_known_to_that_orders_events(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=5)
    opened = await platform.open(await platform.register(), sku)
    await platform.pay(opened)

    async def paid() -> bool:
        return bool((await platform.seat_row(opened.seat.seat_id))["state"] == "paid")

    await eventually(paid)
    joined = await platform.join(await platform.register(), group_id=opened.group.group_id)

    async def order_known() -> bool:
        return bool((await platform.seat_row(joined.seat.seat_id))["order_id"] is not None)

    await eventually(order_known)
    # groupbuy's own record of the payment limit passed long ago, but the order's OrderPaid or OrderCancelled
    # may still be on its way: only the order service's cancellation (once its pay_by and the grace for
    # confirming a payment passed) ends the hold.
    await platform.fetch(
        f"UPDATE {SCHEMA}.seats SET pay_by = now() - interval '2 minutes' - $2::interval WHERE seat_id = $1",  # noqa: S608
        uuid.UUID(joined.seat.seat_id),
        PAYMENT_CONFIRMATION_GRACE,
    )
    await asyncio.sleep(1.0)  # the backstop polls meanwhile, and leaves the hold alone
    assert (await platform.seat_row(joined.seat.seat_id))["state"] == "held"
    await platform.expire_unpaid_orders(opened.group.group_id)

    async def released() -> str | None:
        row = await platform.seat_row(joined.seat.seat_id)
        return str(row["release_reason"]) if row["state"] == "released" else None

    assert await eventually(released, timeout=HOLD_SECONDS + 20) == "order_cancelled"
