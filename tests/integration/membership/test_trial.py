"""Flow 6: the free trial is taken once per person, per account and across accounts linked by identity."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb
from pingou.membership.v1 import membership_pb2_grpc as pb_grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.core import BusinessLine
from libs.grpckit import open_channel
from services.membership.bootstrap import build_app
from tests.integration.membership.conftest import Plus, new_phone, status_of
from tests.support.notes import free_port, running_app
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


async def members(plus: Plus, *user_ids: str) -> int:
    """How many of these accounts hold a membership, on either line."""
    total = 0
    for schema in ("membership_mall", "membership_pingou"):
        sql = f"SELECT count(*) FROM {schema}.memberships WHERE user_id = ANY($1::text[])"  # noqa: S608  -- fixed names
        total += await plus.count(sql, list(user_ids))
    return total


async def claims(plus: Plus, *user_ids: str) -> int:
    return await plus.count(
        "SELECT count(*) FROM membership_trials.trial_claims WHERE user_id = ANY($1::text[])", list(user_ids)
    )


async def test_an_account_takes_the_trial_once_even_after_it_lapsed(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU)
    trial = await plus.buy(user, events.PLAN_TRIAL)
    assert (trial.plan, trial.state) == (events.PLAN_TRIAL, pb.MEMBERSHIP_STATE_ACTIVE)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.buy(user, events.PLAN_TRIAL)
    assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "TRIAL_ALREADY_USED")

    await plus.move_back(user, timedelta(days=31))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.buy(user, events.PLAN_TRIAL)
    assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "TRIAL_ALREADY_USED")
    paid = await plus.buy(user, events.PLAN_MONTHLY)  # paying is always possible
    assert paid.plan == events.PLAN_MONTHLY


async def test_a_linked_account_of_the_other_line_cannot_take_the_trial_again(plus: Plus) -> None:
    phone = new_phone()
    mall = await plus.register(BusinessLine.MALL, phone=phone)
    pingou = await plus.register(BusinessLine.PINGOU, phone=phone)
    await plus.buy(mall, events.PLAN_TRIAL)
    assert await claims(plus, mall, pingou) == 2

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plus.buy(pingou, events.PLAN_TRIAL)
    assert status_of(caught.value) == (grpc.StatusCode.FAILED_PRECONDITION, "TRIAL_ALREADY_USED")
    assert await members(plus, pingou) == 0
    assert await plus.count("SELECT count(*) FROM membership_pingou.payments WHERE user_id = $1", pingou) == 0


async def test_linked_accounts_taking_the_trial_at_once_get_exactly_one(plus: Plus) -> None:
    people = [new_phone() for _ in range(8)]
    accounts = [
        (await plus.register(BusinessLine.MALL, phone=phone), await plus.register(BusinessLine.PINGOU, phone=phone))
        for phone in people
    ]
    outcomes = await asyncio.gather(
        *(plus.buy(account, events.PLAN_TRIAL) for pair in accounts for account in pair), return_exceptions=True
    )
    for index, pair in enumerate(accounts):
        mine = outcomes[2 * index : 2 * index + 2]
        granted = [outcome for outcome in mine if isinstance(outcome, pb.Membership)]
        refused = [outcome for outcome in mine if isinstance(outcome, grpc.aio.AioRpcError)]
        assert len(granted) == 1, mine
        assert [status_of(error) for error in refused] == [(grpc.StatusCode.FAILED_PRECONDITION, "TRIAL_ALREADY_USED")]
        assert await members(plus, *pair) == 1
        assert await claims(plus, *pair) == 2


async def test_people_who_are_not_linked_each_get_their_trial(plus: Plus) -> None:
    mall = await plus.register(BusinessLine.MALL, phone=new_phone())
    pingou = await plus.register(BusinessLine.PINGOU, phone=new_phone())
    await asyncio.gather(plus.buy(mall, events.PLAN_TRIAL), plus.buy(pingou, events.PLAN_TRIAL))
    assert await members(plus, mall, pingou) == 2


async def test_a_trial_retried_with_its_reference_answers_the_first_result(plus: Plus) -> None:
    user = await plus.register(BusinessLine.PINGOU, phone=new_phone())
    first = await plus.buy(user, events.PLAN_TRIAL, reference="trial-retry-1")
    assert await plus.buy(user, events.PLAN_TRIAL, reference="trial-retry-1") == first
    assert len(await plus.events_of(user)) == 1


async def test_a_trial_member_is_plus_in_the_segmentation_profile(plus: Plus) -> None:
    user = await plus.register(BusinessLine.MALL)
    trial = await plus.buy(user, events.PLAN_TRIAL)

    async def profile_is_plus() -> bool:
        found = await plus.segmentation.GetUser(seg_pb.GetUserRequest(user_id=user), metadata=plus.service(user))
        return bool(found.profile.plus_member) and found.profile.plus_until == trial.expires_at

    await eventually(profile_is_plus)


async def test_a_trial_fails_closed_when_segmentation_cannot_be_reached(plus: Plus) -> None:
    # A replica whose segmentation address answers nothing: links cannot be checked, so no trial is given.
    settings = plus.settings.model_copy(update={"segmentation_address": f"127.0.0.1:{free_port()}"})
    user = await plus.register(BusinessLine.PINGOU)
    earlier = await plus.register(BusinessLine.PINGOU)
    taken = plus.purchase_request(earlier, events.PLAN_TRIAL)
    first = await plus.stub.Purchase(taken, metadata=plus.service(earlier))
    async with (
        running_app(build_app, settings) as replica,
        open_channel(f"127.0.0.1:{replica.port}", default_timeout=10) as channel,
    ):
        stub = pb_grpc.MembershipServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Purchase(plus.purchase_request(user, events.PLAN_TRIAL), metadata=plus.service(user))
        assert status_of(caught.value) == (grpc.StatusCode.UNAVAILABLE, "SEGMENTATION_UNAVAILABLE")
        assert await members(plus, user) == await claims(plus, user) == 0
        # What needs no links still works: a retry of a recorded trial, and paid plans.
        assert await stub.Purchase(taken, metadata=plus.service(earlier)) == first
        paid = await stub.Purchase(plus.purchase_request(user, events.PLAN_MONTHLY), metadata=plus.service(user))
    assert paid.state == pb.MEMBERSHIP_STATE_ACTIVE
