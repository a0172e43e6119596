"""How groups end: completion or failure exactly once (also with several window jobs and late payments
racing), a failed group's refunds and stock (flow 3), and a restart in the middle of a group's life."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from functools import partial

import grpc
import pytest
from pingou.groupbuy.v1 import events_pb2 as events
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2 as order_pb

from libs.core import BusinessLine
from libs.database import create_pool
from services.groupbuy.entrypoints.jobs import WindowJob
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


async def _paid_seats(platform: Platform, group_id: str) -> int:
    return (await platform.get_group(group_id)).seats_paid


async def test_flow_3_failed_group_refunds_every_paid_member_and_releases_stock(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=10)
    leader, member = await platform.register(), await platform.register()
    opened = await platform.open(leader, sku)
    await platform.pay(opened)
    joined = await platform.join(member, group_id=opened.group.group_id)  # held, never paid
    group_id = opened.group.group_id
    await eventually(lambda: _one_paid(platform, group_id))
    assert await platform.stock(sku) == (8, 2)

    await platform.end_window(group_id)

    async def failed() -> bool:
        return await platform.group_state(group_id) == pb.GROUP_STATE_FAILED

    await eventually(failed)

    async def refunded_and_cancelled() -> bool:
        paid_order = await platform.shop.get(opened.order.order_id)
        unpaid_order = await platform.shop.get(joined.order.order_id)
        return bool(paid_order.refunds) and unpaid_order.state == order_pb.ORDER_STATE_CANCELLED

    await eventually(refunded_and_cancelled)
    refund = (await platform.shop.get(opened.order.order_id)).refunds[0]
    assert (refund.reason, refund.amount_minor) == (order_pb.REFUND_REASON_GROUP_FAILED, opened.order.total_minor)

    async def stock_back() -> bool:
        return await platform.stock(sku) == (10, 0)

    await eventually(stock_back)
    names = await platform.event_names(group_id)
    assert names.count("GroupFailed") == 1
    assert "GroupCompleted" not in names
    (failure,) = [e for e in await platform.events_of(group_id) if isinstance(e, events.GroupFailed)]
    assert list(failure.paid_order_ids) == [opened.order.order_id]
    assert failure.reason == events.FAILURE_REASON_WINDOW_ENDED


async def _one_paid(platform: Platform, group_id: str) -> bool:
    return await _paid_seats(platform, group_id) == 1


async def test_two_window_jobs_and_last_payments_racing_end_each_group_exactly_once(platform: Platform) -> None:
    groups = 30
    sku = await platform.listing(size=2, stock=2 * groups)
    leaders = await asyncio.gather(*(platform.register() for _ in range(groups)))
    members = await asyncio.gather(*(platform.register() for _ in range(groups)))
    opened = await asyncio.gather(*(platform.open(leader, sku) for leader in leaders))
    await asyncio.gather(*(platform.pay(result) for result in opened))
    ids = [result.group.group_id for result in opened]
    joined = await asyncio.gather(*(platform.join(m, group_id=g) for m, g in zip(members, ids, strict=True)))
    for group_id in ids:
        await eventually(partial(_one_paid, platform, group_id))

    # Every window ends in about a second, while the last seats are being paid and two more window jobs
    # (as other replicas would) run beside the service's own.
    await platform.fetch(
        f"UPDATE {SCHEMA}.groups SET expires_at = now() + interval '1 second' WHERE group_id = ANY($1::uuid[])",  # noqa: S608
        [uuid.UUID(group_id) for group_id in ids],
    )
    pool = await create_pool(platform.database_url, schema=SCHEMA, application_name="test-replica")
    try:
        uow = partial(UnitOfWork, pool, BusinessLine.PINGOU, topic_prefix=platform.settings.kafka_topic_prefix)
        replicas = [WindowJob(uow, poll_seconds=0.01, batch_size=3) for _ in range(2)]
        running = [asyncio.create_task(job.run()) for job in replicas]

        refused: list[grpc.StatusCode] = []

        async def pay_later(index: int, result: pb.SeatResult) -> None:
            await asyncio.sleep(index * 0.07)  # spread across the end of the windows
            try:
                await platform.pay(result)
            except grpc.aio.AioRpcError as error:
                # The group failed first and the order service cancelled the order: the payment goes back.
                refused.append(error.code())

        await asyncio.gather(*(pay_later(i, result) for i, result in enumerate(joined)))
        assert set(refused) <= {grpc.StatusCode.FAILED_PRECONDITION}
        await asyncio.sleep(1.5)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    finally:
        await pool.close()

    async def all_ended() -> bool:
        states = [await platform.group_state(group_id) for group_id in ids]
        return pb.GROUP_STATE_OPEN not in states

    await eventually(all_ended)
    outcomes = Counter(
        (key, type(event).__name__)
        for key, event in await platform.published()
        if key in ids and isinstance(event, events.GroupCompleted | events.GroupFailed) and not event.reannounced
    )
    assert sorted(key for key, _ in outcomes) == sorted(ids)  # one outcome per group, no group twice
    assert set(outcomes.values()) == {1}
    for group_id in ids:
        group = await platform.get_group(group_id)
        if group.state == pb.GROUP_STATE_COMPLETED:
            assert group.seats_paid == 2
            assert (group_id, "GroupCompleted") in outcomes
        else:
            assert (group_id, "GroupFailed") in outcomes


async def test_a_restart_mid_life_loses_nothing_and_the_window_still_ends(platform: Platform) -> None:
    sku = await platform.listing(size=2, stock=10)
    a, b, c = [await platform.register() for _ in range(3)]
    to_complete = await platform.open(a, sku)
    to_fail = await platform.open(c, sku)

    await platform.restart_groupbuy()
    # While it was down nothing was lost; after it, a payment made meanwhile and a new join still count.
    await platform.pay(to_complete)
    joined = await platform.join(b, group_id=to_complete.group.group_id)
    await platform.restart_groupbuy()
    await platform.pay(joined)
    await platform.end_window(to_fail.group.group_id)
    await platform.restart_groupbuy()

    async def ended() -> bool:
        return (
            await platform.group_state(to_complete.group.group_id) == pb.GROUP_STATE_COMPLETED
            and await platform.group_state(to_fail.group.group_id) == pb.GROUP_STATE_FAILED
        )

    await eventually(ended)
    assert (await platform.event_names(to_complete.group.group_id)).count("GroupCompleted") == 1
    assert (await platform.event_names(to_fail.group.group_id)).count("GroupFailed") == 1
