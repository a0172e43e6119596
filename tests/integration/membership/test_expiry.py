"""IsMember around the expiry, and the durable expiry job: each ended membership expires, and is
announced, exactly once however many job instances run."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb

from libs.core import BusinessLine
from libs.database import create_pool, schema_name
from services.membership.entrypoints.jobs import ExpiryJob
from services.membership.service_layer.unit_of_work import UnitOfWork
from tests.integration.membership.conftest import Plus
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def is_member(plus: Plus, user_id: str, when: datetime | None = None) -> pb.IsMemberResponse:
    request = pb.IsMemberRequest(user_id=user_id)
    if when is not None:
        request.at.CopyFrom(stamp(when))
    reply: pb.IsMemberResponse = await plus.stub.IsMember(request, metadata=plus.service(user_id))
    return reply


async def test_is_member_from_the_start_until_just_before_the_expiry(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    never = await plus.register(BusinessLine.MALL)
    bought = await plus.buy(user, events.PLAN_MONTHLY)
    started, expires = bought.started_at.ToDatetime(tzinfo=UTC), bought.expires_at.ToDatetime(tzinfo=UTC)

    assert (await is_member(plus, user)).member is True
    assert (await is_member(plus, user, started)).member is True
    last = await is_member(plus, user, expires - timedelta(microseconds=1))
    assert (last.member, last.expires_at) == (True, bought.expires_at)
    assert (await is_member(plus, user, expires)).member is False
    assert (await is_member(plus, user, started - timedelta(seconds=1))).member is False
    nobody = await is_member(plus, never)
    assert (nobody.member, nobody.HasField("expires_at")) == (False, False)


async def test_the_expiry_job_expires_an_ended_membership_and_announces_it(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    bought = await plus.buy(user, events.PLAN_MONTHLY, auto_renew=True)
    await plus.move_back(user, timedelta(days=31))
    ended = bought.expires_at.ToDatetime(tzinfo=UTC) - timedelta(days=31)

    async def recorded() -> bool:
        state = await plus.fetch("SELECT state FROM membership_pingou.memberships WHERE user_id = $1", user)
        return bool(state[0]["state"] == "expired")

    await eventually(recorded)  # the app's own job, polling every 0.2 s
    _, expired = await plus.events_of(user)
    assert isinstance(expired, events.MembershipExpired)
    assert (expired.user_id, expired.plan, expired.expired_at.ToDatetime(tzinfo=UTC)) == (
        user,
        events.PLAN_MONTHLY,
        ended,
    )
    shown = await plus.stub.GetMembership(pb.GetMembershipRequest(user_id=user), metadata=plus.service(user))
    assert shown.state == pb.MEMBERSHIP_STATE_EXPIRED
    assert (await is_member(plus, user)).member is False


async def test_two_expiry_jobs_at_once_expire_each_membership_exactly_once(plus: Plus) -> None:
    users = [await plus.register(BusinessLine.PINGOU) for _ in range(30)]
    for user in users:
        await plus.buy(user, events.PLAN_MONTHLY)
    # The two instances see a clock 31 days ahead, so these memberships are due for them only, not for the
    # app's own job (which runs on the real clock).
    later = datetime.now(UTC) + timedelta(days=31)
    schema = schema_name("membership", BusinessLine.PINGOU)
    pools = [await create_pool(plus.database_url, schema=schema, application_name=f"expiry-{n}") for n in range(2)]
    try:
        jobs = [
            ExpiryJob(
                partial(UnitOfWork, pool, BusinessLine.PINGOU, topic_prefix=plus.settings.kafka_topic_prefix),
                poll_seconds=0.01,
                batch_size=4,
                clock=lambda: later,
            )
            for pool in pools
        ]

        async def until_idle(job: ExpiryJob) -> list[str]:
            done: list[str] = []
            while (batch := await job.run_once()).claimed:
                done += [membership.user_id for membership in batch.done]
            return done

        first, second = await asyncio.gather(*(until_idle(job) for job in jobs))
    finally:
        for pool in pools:
            await pool.close()

    mine = set(users)
    taken = Counter(user for user in first + second if user in mine)
    assert set(taken) == mine
    assert set(taken.values()) == {1}
    announced = Counter(
        key for key, event in await plus.published(BusinessLine.PINGOU) if isinstance(event, events.MembershipExpired)
    )
    assert {user: announced[user] for user in users} == dict.fromkeys(users, 1)
