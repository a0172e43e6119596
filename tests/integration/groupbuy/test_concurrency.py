"""Many buyers racing for the same last seats: the database keeps every group within its size and every
user at most once per group, and each group completes once, with exactly its size in paid seats."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable
from typing import TypeVar

import grpc
import pytest
from pingou.groupbuy.v1 import events_pb2 as events
from pingou.groupbuy.v1 import groupbuy_pb2 as pb

from libs.grpckit.errors import reason_of
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra

GROUPS, SIZE, JOINS, BUYERS, CALLERS = 100, 5, 1_000, 600, 64
T = TypeVar("T")


async def test_1000_concurrent_joins_over_100_groups_of_5_never_overfill_and_complete_with_5_paid(
    platform: Platform,
) -> None:
    sku = await platform.listing(size=SIZE, stock=GROUPS * SIZE + 100)
    gate = asyncio.Semaphore(CALLERS)

    async def limited(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    leaders = await asyncio.gather(*(limited(platform.register()) for _ in range(GROUPS)))
    buyers = await asyncio.gather(*(limited(platform.register()) for _ in range(BUYERS)))
    opened = await asyncio.gather(*(limited(platform.open(leader, sku)) for leader in leaders))
    group_ids = [result.group.group_id for result in opened]

    random.seed(6)
    # Every buyer at least once somewhere, some many times (also into the same group twice).
    attempts = [(buyer, random.choice(group_ids)) for buyer in buyers]
    attempts += [(random.choice(buyers), random.choice(group_ids)) for _ in range(JOINS - len(attempts))]
    random.shuffle(attempts)
    refusals: Counter[tuple[grpc.StatusCode, str | None]] = Counter()

    async def join(user_id: str, group_id: str) -> pb.SeatResult | None:
        async with gate:
            try:
                return await platform.join(user_id, group_id=group_id)
            except grpc.aio.AioRpcError as error:
                refusals[error.code(), reason_of(error)] += 1
                return None

    joined = [r for r in await asyncio.gather(*(join(user, group) for user, group in attempts)) if r is not None]
    expected = {
        (grpc.StatusCode.FAILED_PRECONDITION, "GROUP_FULL"),
        (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_IN_GROUP"),
    }
    assert set(refusals) <= expected, refusals
    assert len(joined) + sum(refusals.values()) == JOINS

    # The database's view, straight after the race.
    over = await platform.count(f"SELECT count(*) FROM {SCHEMA}.groups WHERE seats_taken > size")  # noqa: S608
    twice = await platform.count(
        f"""SELECT count(*) FROM (SELECT group_id, user_id FROM {SCHEMA}.seats WHERE state <> 'released'
        GROUP BY group_id, user_id HAVING count(*) > 1) d"""  # noqa: S608
    )
    mismatched = await platform.count(
        f"""SELECT count(*) FROM {SCHEMA}.groups g WHERE seats_taken <> (SELECT count(*) FROM {SCHEMA}.seats s
        WHERE s.group_id = g.group_id AND s.state <> 'released')"""  # noqa: S608
    )
    assert (over, twice, mismatched) == (0, 0, 0)
    assert await platform.counter_drift() == []  # every (user, SKU) counts its seats in open groups
    assert len(joined) == GROUPS * (SIZE - 1)  # plenty of attempts: every seat was taken, none twice

    await asyncio.gather(*(limited(platform.pay(result)) for result in [*opened, *joined]))

    async def all_completed() -> bool:
        done = await platform.count(f"SELECT count(*) FROM {SCHEMA}.groups WHERE state = 'completed'")  # noqa: S608
        return done == GROUPS

    await eventually(all_completed, timeout=120)
    paid_per_group = await platform.fetch(
        f"""SELECT g.group_id, g.seats_paid, count(s.*) FILTER (WHERE s.state = 'paid') AS paid_seats
        FROM {SCHEMA}.groups g JOIN {SCHEMA}.seats s USING (group_id) GROUP BY g.group_id, g.seats_paid"""  # noqa: S608
    )
    assert all((row["seats_paid"], row["paid_seats"]) == (SIZE, SIZE) for row in paid_per_group)
    assert await platform.counter_drift() == []  # completed groups count for nobody any more
    completions = Counter(key for key, event in await platform.published() if isinstance(event, events.GroupCompleted))
    assert completions == Counter({group_id: 1 for group_id in group_ids})
