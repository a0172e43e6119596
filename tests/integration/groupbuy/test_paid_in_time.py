"""Groupbuy's timers follow the one rule for "paid in time" (libs.core.orders): a seat paid by its pay_by
may be confirmed up to PAYMENT_CONFIRMATION_GRACE later, so neither the window job nor the hold backstop
ends it before then, whatever lags (OrderPlaced, so its order is unknown, or OrderPaid past the grace),
and the late OrderPaid still completes the group. Against a schema of its own on the real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest

from libs.core import BusinessLine
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from services.groupbuy.bootstrap import LINE_MIGRATIONS
from services.groupbuy.entrypoints.jobs import HoldBackstopJob, WindowJob
from services.groupbuy.service_layer import lifecycle
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra
from tests.support.jobs import migrated_schema

pytestmark = pytest.mark.infra

SCHEMA = "groupbuy_pingou"
EVENT_GRACE = timedelta(seconds=1)  # the window job's own grace, for a last-moment OrderPaid to arrive


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    sources = LINE_MIGRATIONS
    async with migrated_schema(infra, schema=SCHEMA, sources=sources) as database:
        yield database.pool


async def _pair(pool: asyncpg.Pool, *, ends: datetime, order_known: bool) -> tuple[uuid.UUID, str]:
    """A group of two whose window ends at `ends`: the leader paid; the member's seat is held until the end of
    the window, with its order known to groupbuy or not. Returns the group and the member's order id."""
    group_id, member = uuid.uuid4(), f"pu_{uuid.uuid4().hex[:8]}"
    member_order = f"po_{member}"
    await pool.execute(
        """INSERT INTO groups (group_id, sku_id, leader_user_id, size, seats_taken, seats_paid, group_price_minor,
            leader_price_minor, share_code, opened_at, expires_at)
        VALUES ($1, 'sku-1', 'pu_leader', 2, 2, 1, 100, 100, $2, $3, $4)""",
        group_id,
        uuid.uuid4().hex[:10],
        ends - timedelta(hours=1),
        ends,
    )
    seats = (("pu_leader", True, f"po_leader_{member}"), (member, False, member_order if order_known else None))
    for user_id, paid, order_id in seats:
        await pool.execute(
            """INSERT INTO seats (seat_id, group_id, user_id, leader, state, request_key, invite_code,
                unit_price_minor, shipping_city, channel, held_at, pay_by, paid_at, order_id)
            VALUES ($1, $2, $3, $4, $5, $1::uuid::text, $6, 100, '临沂', 2, $7, $8, $9, $10)""",
            uuid.uuid4(),
            group_id,
            user_id,
            paid,
            "paid" if paid else "held",
            uuid.uuid4().hex[:10],
            ends - timedelta(minutes=15),
            ends,
            ends - timedelta(minutes=10) if paid else None,
            order_id,
        )
    return group_id, member_order


def _window_job(pool: asyncpg.Pool, *, at: datetime, fallback: timedelta = timedelta(minutes=30)) -> WindowJob:
    uow = partial(UnitOfWork, pool, BusinessLine.PINGOU)
    return WindowJob(uow, poll_seconds=0.01, grace=EVENT_GRACE, fallback=fallback, clock=lambda: at)


async def _state(pool: asyncpg.Pool, group_id: uuid.UUID) -> str:
    return str(await pool.fetchval("SELECT state FROM groups WHERE group_id = $1", group_id))


async def _events(pool: asyncpg.Pool, group_id: uuid.UUID) -> list[str]:
    rows = await pool.fetch("SELECT event_type FROM outbox WHERE key = $1 ORDER BY id", str(group_id))
    return [row["event_type"].rsplit(".", 1)[-1] for row in rows]


@pytest.mark.parametrize("order_known", [False, True], ids=["its OrderPlaced lags", "its order is known"])
async def test_a_group_whose_last_seat_was_paid_in_the_window_does_not_fail_while_its_event_lags(
    pool: asyncpg.Pool, order_known: bool
) -> None:
    ends = datetime.now(UTC) - timedelta(seconds=30)  # the window ended well past the window job's grace
    group_id, member_order = await _pair(pool, ends=ends, order_known=order_known)
    now = datetime.now(UTC)

    # The member paid a second before the end; the confirmation may come up to the grace later, and its
    # OrderPaid after that: no window job fails the group meanwhile, not even one that takes the events
    # known orders wait for as lost (no fallback time).
    for job in (_window_job(pool, at=now), _window_job(pool, at=now, fallback=timedelta(0))):
        assert await job.run_once() == 0
    assert await _state(pool, group_id) == "open"

    # The OrderPaid of the payment made at ends - 1 s (confirmed in time) arrives now: the seat counts.
    async with UnitOfWork(pool, BusinessLine.PINGOU) as uow:
        await lifecycle.pay_seat(
            uow,
            order_id=member_order,
            group_id=str(group_id),
            user_id=member_order.removeprefix("po_"),
            paid_at=ends - timedelta(seconds=1),
            now=now,
        )
    assert await _state(pool, group_id) == "completed"
    assert await _events(pool, group_id) == ["SeatPaid", "GroupCompleted"]


async def test_a_group_fails_once_no_payment_of_its_held_seats_can_be_confirmed_in_time(pool: asyncpg.Pool) -> None:
    ends = datetime.now(UTC) - timedelta(seconds=30)
    orderless, _ = await _pair(pool, ends=ends, order_known=False)
    waiting, _ = await _pair(pool, ends=ends, order_known=True)
    closed = ends + PAYMENT_CONFIRMATION_GRACE + EVENT_GRACE  # the last moment a payment's OrderPaid is waited for

    assert await _window_job(pool, at=closed).run_once() == 0
    # Past it, the seat whose order is unknown keeps nothing open; the seat whose order is known waits for
    # that order's OrderCancelled (the order service cancels once the grace passed), until the fallback.
    assert await _window_job(pool, at=closed + timedelta(seconds=1)).run_once() == 1
    assert (await _state(pool, orderless), await _state(pool, waiting)) == ("failed", "open")
    assert await _window_job(pool, at=closed + timedelta(seconds=1), fallback=timedelta(0)).run_once() == 1
    assert await _state(pool, waiting) == "failed"


async def test_the_hold_backstop_never_releases_a_hold_that_may_still_be_paid_in_time(pool: asyncpg.Pool) -> None:
    ends = datetime.now(UTC) + timedelta(hours=1)  # an open group; the member's hold ended a minute ago
    group_id, _ = await _pair(pool, ends=ends, order_known=False)
    pay_by = datetime.now(UTC) - timedelta(minutes=1)
    await pool.execute("UPDATE seats SET pay_by = $2 WHERE group_id = $1 AND state = 'held'", group_id, pay_by)
    uow = partial(UnitOfWork, pool, BusinessLine.PINGOU)

    def backstop(at: datetime) -> HoldBackstopJob:
        return HoldBackstopJob(uow, grace=timedelta(0), poll_seconds=0.01, clock=lambda: at)

    assert await backstop(pay_by + PAYMENT_CONFIRMATION_GRACE).run_once() == 0
    assert await backstop(pay_by + PAYMENT_CONFIRMATION_GRACE + timedelta(seconds=1)).run_once() == 1
    assert await _events(pool, group_id) == ["SeatReleased"]
