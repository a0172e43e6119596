"""Refunds over a fake unit of work: the provider's answers, attempts asked again with back-off until
they run out, an operator's one more try, and answers to older attempts that change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pingou.order.v1 import events_pb2 as events

from libs.core import BusinessLine, FailedPrecondition, NotFound
from services.order.domain.model import Order, OrderState, Refund, RefundState, refund_backoff
from services.order.service_layer import orders
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.refunds import (
    RefundResult,
    ask_again_for_silent_refunds,
    report_refund_result,
    retry_refund,
)
from tests.unit.order.fakes import FakeUnitOfWork
from tests.unit.order.given import NOW, POLICY, mall_order, paid, read

SHORT = OrderPolicy(refund_max_attempts=2)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(line=BusinessLine.MALL)


async def refunding(uow: FakeUnitOfWork) -> tuple[Order, Refund]:
    """A paid mall order whose buyer asked for the money back."""
    order = await paid(uow, await mall_order(uow))
    async with uow:
        order = await orders.request_after_sale_refund(uow, order.order_id, policy=POLICY, now=NOW)
    (refund,) = order.refunds
    return order, refund


async def report(
    uow: FakeUnitOfWork,
    refund: Refund,
    *,
    attempt: int = 1,
    succeeded: bool = True,
    policy: OrderPolicy = POLICY,
    now: datetime = NOW,
) -> Refund:
    result = RefundResult(refund.refund_id, attempt, succeeded, "alipay-r-1" if succeeded else "", "card closed")
    return await report_refund_result(uow, result, policy=policy, now=now)


def next_attempt(uow: FakeUnitOfWork, refund: Refund) -> datetime | None:
    return uow.tables.refunds[refund.refund_id].next_attempt_at


async def test_a_successful_refund_finishes_it_and_the_order(uow: FakeUnitOfWork) -> None:
    order, refund = await refunding(uow)
    done = await report(uow, refund)

    assert (done.state, done.provider_reference) == (RefundState.SUCCEEDED, "alipay-r-1")
    assert next_attempt(uow, refund) is None
    assert (await read(uow, order.order_id)).state is OrderState.REFUNDED
    assert uow.published_types()[-2:] == ["RefundSucceeded", "OrderRefunded"]
    refunded = uow.published[-1]
    assert isinstance(refunded, events.OrderRefunded)
    assert (refunded.order_id, refunded.amount_minor, refunded.refund_id) == (
        order.order_id,
        refund.amount_minor,
        refund.refund_id,
    )


async def test_a_success_reported_twice_is_answered_the_same_and_announced_once(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    first = await report(uow, refund)
    assert await report(uow, refund) == first
    assert uow.published_types().count("RefundSucceeded") == 1


async def test_a_failure_reported_after_the_success_is_refused(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    await report(uow, refund)
    with pytest.raises(FailedPrecondition) as caught:
        await report(uow, refund, succeeded=False)
    assert caught.value.reason == "REFUND_SUCCEEDED"


async def test_an_answer_to_an_attempt_never_made_is_refused(uow: FakeUnitOfWork) -> None:
    order, refund = await refunding(uow)
    with pytest.raises(FailedPrecondition) as caught:
        await report(uow, refund, attempt=2)
    assert caught.value.reason == "UNKNOWN_REFUND_ATTEMPT"
    assert (await read(uow, order.order_id)).state is OrderState.REFUNDING


async def test_an_answer_for_an_unknown_refund_is_not_found(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    with pytest.raises(NotFound) as caught:
        await report_refund_result(uow, RefundResult("mrf_none", 1, True, "r", ""), policy=POLICY, now=NOW)
    assert caught.value.reason == "REFUND_NOT_FOUND"
    assert uow.tables.refunds[refund.refund_id].refund.state is RefundState.REQUESTED


async def test_a_failed_attempt_is_asked_again_after_a_back_off(uow: FakeUnitOfWork) -> None:
    order, refund = await refunding(uow)
    failed = await report(uow, refund, succeeded=False)

    assert (failed.state, failed.last_error) == (RefundState.REQUESTED, "card closed")
    assert next_attempt(uow, refund) == NOW + refund_backoff(1, base=POLICY.refund_retry_base)
    announced = uow.published[-1]
    assert isinstance(announced, events.RefundFailed)
    assert (announced.error, announced.final, announced.refund.attempts) == ("card closed", False, 1)
    assert (await read(uow, order.order_id)).state is OrderState.REFUNDING


async def test_the_last_attempt_failing_fails_the_refund_for_good(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    async with uow:
        await ask_again_for_silent_refunds(uow, policy=SHORT, now=NOW + timedelta(hours=1), limit=10)
    final = await report(uow, refund, attempt=2, succeeded=False, policy=SHORT)

    assert (final.state, final.attempts) == (RefundState.FAILED, 2)
    assert next_attempt(uow, refund) is None
    failed = uow.published[-1]
    assert isinstance(failed, events.RefundFailed)
    assert failed.final


async def test_an_answer_to_an_older_attempt_changes_nothing(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    async with uow:
        await ask_again_for_silent_refunds(uow, policy=POLICY, now=NOW + timedelta(hours=1), limit=10)
    events_before, scheduled = len(uow.published), next_attempt(uow, refund)
    late = await report(uow, refund, attempt=1, succeeded=False)
    assert (late.state, late.attempts) == (RefundState.REQUESTED, 2)
    assert (len(uow.published), next_attempt(uow, refund)) == (events_before, scheduled)


async def test_a_late_success_of_an_older_attempt_still_finishes_the_refund(uow: FakeUnitOfWork) -> None:
    order, refund = await refunding(uow)
    async with uow:
        await ask_again_for_silent_refunds(uow, policy=POLICY, now=NOW + timedelta(hours=1), limit=10)
    assert (await report(uow, refund, attempt=1)).state is RefundState.SUCCEEDED
    assert (await read(uow, order.order_id)).state is OrderState.REFUNDED


# --- the retry job


async def test_a_refund_the_provider_stayed_silent_on_is_asked_again(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    due = NOW + POLICY.refund_retry_base
    async with uow:
        early = await ask_again_for_silent_refunds(uow, policy=POLICY, now=due - timedelta(seconds=1), limit=10)
    async with uow:
        settled = await ask_again_for_silent_refunds(uow, policy=POLICY, now=due, limit=10)

    assert early.claimed == 0
    (asked,) = settled.done
    assert (asked.refund_id, asked.attempts, asked.state) == (refund.refund_id, 2, RefundState.REQUESTED)
    assert next_attempt(uow, refund) == due + refund_backoff(2, base=POLICY.refund_retry_base)
    requested = uow.published[-1]
    assert isinstance(requested, events.RefundRequested)
    assert requested.refund.attempts == 2


async def test_a_refund_silent_through_its_last_attempt_fails_for_good(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    for hours in (1, 2):
        async with uow:
            await ask_again_for_silent_refunds(uow, policy=SHORT, now=NOW + timedelta(hours=hours), limit=10)
    stored = uow.tables.refunds[refund.refund_id]
    assert (stored.refund.state, stored.refund.attempts, stored.next_attempt_at) == (RefundState.FAILED, 2, None)
    assert stored.refund.last_error == "the provider never answered"


async def test_the_retry_job_skips_a_refund_set_aside(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    uow.tables.set_aside.add(("refund_retry", refund.refund_id))
    async with uow:
        settled = await ask_again_for_silent_refunds(uow, policy=POLICY, now=NOW + timedelta(hours=1), limit=10)
    assert settled.claimed == 0


# --- an operator's retry


async def test_an_operator_retries_a_refund_that_failed_for_good(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    await report(uow, refund, succeeded=False, policy=OrderPolicy(refund_max_attempts=1))
    retried = await retry_refund(uow, refund.refund_id, policy=POLICY, now=NOW + timedelta(days=1))

    assert (retried.state, retried.attempts) == (RefundState.REQUESTED, 2)
    assert next_attempt(uow, refund) == NOW + timedelta(days=1) + refund_backoff(2, base=POLICY.refund_retry_base)
    assert uow.published_types()[-1] == "RefundRequested"


async def test_only_a_failed_refund_is_retried_by_an_operator(uow: FakeUnitOfWork) -> None:
    _, refund = await refunding(uow)
    with pytest.raises(FailedPrecondition) as caught:
        await retry_refund(uow, refund.refund_id, policy=POLICY, now=NOW)
    assert caught.value.reason == "REFUND_NOT_FAILED"
    assert uow.tables.refunds[refund.refund_id].refund.attempts == 1
    with pytest.raises(NotFound) as missing:
        await retry_refund(uow, "mrf_none", policy=POLICY, now=NOW)
    assert missing.value.reason == "REFUND_NOT_FOUND"
