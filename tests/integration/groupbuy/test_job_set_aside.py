"""Groupbuy's durable jobs when one row cannot be settled (a poisoned row): it is set aside with its error
(a metric, a log line, a listing an operator reads and puts back in line) and the rows behind it are still
settled, in this batch and the next; a dependency that does not answer rolls the batch back and sets
nothing aside. Against a schema of its own on the real Postgres (the outbox shows what would be published)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
import pytest
from structlog.testing import capture_logs

from libs.core import BusinessLine, FailedPrecondition, NotFound, Unavailable
from libs.jobs import SetAsideRows
from services.groupbuy.bootstrap import LINE_MIGRATIONS
from services.groupbuy.entrypoints.jobs import HoldBackstopJob, IdentityJob, LeaseJob, WindowJob
from services.groupbuy.service_layer import lifecycle
from services.groupbuy.service_layer.stock import LEASE_CREDIT, Allotment
from services.groupbuy.service_layer.unit_of_work import UnitOfWork
from tests.conftest import Infra
from tests.support.jobs import JobDatabase, migrated_schema, poison, set_aside, set_aside_total

pytestmark = pytest.mark.infra

SCHEMA = "groupbuy_pingou"
GROUP_FAILED, GROUP_FLAGGED = "pingou.groupbuy.v1.GroupFailed", "pingou.groupbuy.v1.GroupFlagged"
SEAT_RELEASED = "pingou.groupbuy.v1.SeatReleased"


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[JobDatabase]:
    sources = LINE_MIGRATIONS
    async with migrated_schema(infra, schema=SCHEMA, sources=sources) as database:
        yield database


def _uow(pool: asyncpg.Pool) -> Callable[[], UnitOfWork]:
    return partial(UnitOfWork, pool, BusinessLine.PINGOU)


async def _group(pool: asyncpg.Pool, *, ended_ago: timedelta, size: int = 2) -> uuid.UUID:
    group_id, now = uuid.uuid4(), datetime.now(UTC)
    await pool.execute(
        """INSERT INTO groups (group_id, sku_id, leader_user_id, size, group_price_minor, leader_price_minor,
            share_code, opened_at, expires_at) VALUES ($1, 'sku-1', 'pu_leader', $2, 100, 100, $3, $4, $5)""",
        group_id,
        size,
        uuid.uuid4().hex[:10],
        now - timedelta(days=1),
        now - ended_ago,
    )
    return group_id


async def _seat(
    pool: asyncpg.Pool, group_id: uuid.UUID, user_id: str, *, pay_by: datetime, paid: bool = False,
    order_id: str | None = None,
) -> uuid.UUID:  # fmt: skip
    seat_id = uuid.uuid4()
    await pool.execute(
        """INSERT INTO seats (seat_id, group_id, user_id, leader, state, request_key, invite_code, unit_price_minor,
            shipping_city, channel, held_at, pay_by, paid_at, order_id)
        VALUES ($1, $2, $3, false, $4, $1::uuid::text, $5, 100, '临沂', 2, $6, $7, $8, $9)""",
        seat_id,
        group_id,
        user_id,
        "paid" if paid else "held",
        uuid.uuid4().hex[:10],
        pay_by - timedelta(minutes=15),
        pay_by,
        pay_by - timedelta(minutes=1) if paid else None,
        order_id,
    )
    await pool.execute(
        "UPDATE groups SET seats_taken = seats_taken + 1, seats_paid = seats_paid + $2::int WHERE group_id = $1",
        group_id,
        int(paid),
    )
    return seat_id


async def _completed_group(pool: asyncpg.Pool, users: Sequence[str], *, closed_ago: timedelta) -> str:
    group_id = await _group(pool, ended_ago=-timedelta(hours=1), size=len(users))
    for user_id in users:
        await _seat(pool, group_id, user_id, pay_by=datetime.now(UTC) - closed_ago, paid=True)
    await pool.execute(
        "UPDATE groups SET state = 'completed', closed_at = $2 WHERE group_id = $1",
        group_id,
        datetime.now(UTC) - closed_ago,
    )
    return str(group_id)


async def _published(pool: asyncpg.Pool, event_type: str) -> list[str]:
    rows = await pool.fetch("SELECT key FROM outbox WHERE event_type = $1 ORDER BY key", event_type)
    return [row["key"] for row in rows]


# --- the window job


async def test_the_window_job_sets_aside_a_group_it_cannot_fail_and_fails_the_others(db: JobDatabase) -> None:
    pool = db.pool
    poisoned = await _group(pool, ended_ago=timedelta(minutes=10))  # the oldest: first in every batch
    good = [await _group(pool, ended_ago=timedelta(minutes=5)) for _ in range(2)]
    # Its one held seat (no order known, its payment time long over) is refused by the database: failing the
    # group, which releases it, fails after the group's GroupFailed was queued.
    seat = await _seat(pool, poisoned, "pu_member", pay_by=datetime.now(UTC) - timedelta(hours=1))
    trigger = await poison(pool, table="seats", column="seat_id", value=str(seat))
    job = WindowJob(_uow(pool), poll_seconds=0.01, batch_size=10)
    counted = set_aside_total(lifecycle.WINDOW)

    assert await job.run_once() == 3
    states = dict(await pool.fetch("SELECT group_id, state FROM groups"))
    assert states == {poisoned: "open", good[0]: "failed", good[1]: "failed"}
    assert await _published(pool, GROUP_FAILED) == sorted(str(g) for g in good)  # its own GroupFailed was dropped
    (row,) = (await set_aside(pool, lifecycle.WINDOW)).values()
    assert (row["row_key"], row["attempts"]) == (str(poisoned), 1)
    assert "CheckViolationError" in row["error"]
    assert "refused" in row["error"]
    assert set_aside_total(lifecycle.WINDOW) == counted + 1

    # From now on the job passes it by: the groups ending after it are failed as they fall due.
    later = await _group(pool, ended_ago=timedelta(minutes=1))
    assert await job.run_once() == 1
    assert await pool.fetchval("SELECT state FROM groups WHERE group_id = $1", later) == "failed"
    assert await job.run_once() == 0

    # Once its cause is removed, an operator puts it back in line, and the job fails it.
    await pool.execute(f"DROP TRIGGER {trigger} ON seats")
    assert await SetAsideRows(pool).put_back(lifecycle.WINDOW.name, [str(poisoned)]) == [str(poisoned)]
    assert await job.run_once() == 1
    assert await pool.fetchval("SELECT state FROM groups WHERE group_id = $1", poisoned) == "failed"
    assert await pool.fetchval("SELECT release_reason FROM seats WHERE seat_id = $1", seat) == "group_closed"
    assert await set_aside(pool, lifecycle.WINDOW) == {}


# --- the hold backstop, and an operator's listing


async def _run_cli(url: str, *args: str, expect: int = 0) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libs.jobs", *args,
        env={**os.environ, "DATABASE_URL": url, "COLUMNS": "300"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == expect, err.decode()
    return out.decode()


async def test_the_hold_backstop_sets_aside_a_seat_it_cannot_release_and_an_operator_puts_it_back(
    db: JobDatabase,
) -> None:
    pool = db.pool
    group_id = await _group(pool, ended_ago=-timedelta(hours=1), size=5)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    poisoned = await _seat(pool, group_id, "pu_poisoned", pay_by=long_ago - timedelta(minutes=1))
    good = [await _seat(pool, group_id, f"pu_{n}", pay_by=long_ago) for n in range(2)]
    await poison(pool, table="seats", column="seat_id", value=str(poisoned))
    job = HoldBackstopJob(_uow(pool), grace=timedelta(minutes=10), poll_seconds=0.01)

    assert await job.run_once() == 3
    states = dict(await pool.fetch("SELECT seat_id, state FROM seats"))
    assert states == {poisoned: "held", good[0]: "released", good[1]: "released"}
    assert len(await _published(pool, SEAT_RELEASED)) == 2
    assert list(await set_aside(pool, lifecycle.HOLD_BACKSTOP)) == [str(poisoned)]
    assert await job.run_once() == 0

    listed = await _run_cli(db.url, "set-aside", "--schema", SCHEMA)
    (line,) = [line for line in listed.splitlines() if str(poisoned) in line]
    assert [cell.strip() for cell in line.strip("│ ").split("│")][:3] == ["hold_backstop", str(poisoned), "1"]
    assert "CheckViolationError" in line
    put_back = await _run_cli(db.url, "put-back", "--schema", SCHEMA, "--job", "hold_backstop", "--row", str(poisoned))
    assert f"put back 1 row(s) of hold_backstop in {SCHEMA}: {poisoned}" in put_back
    assert await set_aside(pool, lifecycle.HOLD_BACKSTOP) == {}
    assert "no job rows set aside" in await _run_cli(db.url, "set-aside", "--schema", SCHEMA)
    assert str(poisoned) in await _run_cli(db.url, "set-aside", "--schema", SCHEMA, "--all")
    again = await _run_cli(db.url, "put-back", "--schema", SCHEMA, "--job", "hold_backstop", "--row", "nope", expect=1)
    assert "not set aside (settled already, or never refused): nope" in again
    # Claimed again; still refused, it is set aside again, one failure more.
    assert await job.run_once() == 1
    assert (await set_aside(pool, lifecycle.HOLD_BACKSTOP))[str(poisoned)]["attempts"] == 2


# --- the identity job (the example: a member segmentation never registered)


class Links:
    """Segmentation's identity links as the adapter answers: NotFound (USER_NOT_FOUND) for an account it
    never registered, Unavailable while it does not answer."""

    def __init__(self, linked: Mapping[str, Sequence[str]]):
        self.linked = dict(linked)
        self.down = False

    async def linked_accounts(self, user_id: str) -> Sequence[str]:
        if self.down:
            raise Unavailable("segmentation did not answer", reason="SEGMENTATION_UNAVAILABLE")
        if user_id not in self.linked:
            raise NotFound(f"segmentation has no account {user_id}", reason="USER_NOT_FOUND")
        return self.linked[user_id]


async def test_a_group_with_a_member_unknown_to_segmentation_is_set_aside_and_flagging_goes_on(
    db: JobDatabase,
) -> None:
    pool = db.pool
    links = Links({"pu_a": ["mu_x"], "pu_b": ["mu_x"], "pu_c": [], "pu_d": [], "pu_e": ["mu_y"], "pu_f": ["mu_y"]})
    unknown = await _completed_group(pool, ["pu_c", "pu_ghost"], closed_ago=timedelta(minutes=5))  # the oldest
    one_person = await _completed_group(pool, ["pu_a", "pu_b"], closed_ago=timedelta(minutes=3))
    strangers = await _completed_group(pool, ["pu_c", "pu_d"], closed_ago=timedelta(minutes=2))
    job = IdentityJob(_uow(pool), links, poll_seconds=0.01)
    counted = set_aside_total(lifecycle.IDENTITY_CHECK)

    with capture_logs() as logs:
        assert await job.run_once() == 3
    checked = {
        str(r["group_id"]): (r["identity_checked"], r["flagged"]) for r in await pool.fetch("SELECT * FROM groups")
    }
    assert checked == {unknown: (False, False), one_person: (True, True), strangers: (True, False)}
    assert await _published(pool, GROUP_FLAGGED) == [one_person]
    (row,) = (await set_aside(pool, lifecycle.IDENTITY_CHECK)).values()
    assert row["row_key"] == unknown
    assert "USER_NOT_FOUND" in row["error"]
    assert "pu_ghost" in row["error"]
    assert set_aside_total(lifecycle.IDENTITY_CHECK) == counted + 1
    warned = [entry for entry in logs if entry["event"] == "job_row_set_aside"]
    assert [(e["job"], e["row"], e["log_level"]) for e in warned] == [("groupbuy.identity_check", unknown, "warning")]

    # It no longer comes first in every batch: a one-person group completed after it is flagged.
    assert await job.run_once() == 0
    later = await _completed_group(pool, ["pu_e", "pu_f"], closed_ago=timedelta(seconds=1))
    assert await job.run_once() == 1
    assert await _published(pool, GROUP_FLAGGED) == sorted([one_person, later])


async def test_segmentation_away_rolls_the_identity_batch_back_and_sets_nothing_aside(db: JobDatabase) -> None:
    pool = db.pool
    links = Links({"pu_a": ["mu_x"], "pu_b": ["mu_x"]})
    group_id = await _completed_group(pool, ["pu_a", "pu_b"], closed_ago=timedelta(minutes=1))
    job = IdentityJob(_uow(pool), links, poll_seconds=0.01)
    links.down = True
    with pytest.raises(Unavailable):
        await job.run_once()
    assert await set_aside(pool, lifecycle.IDENTITY_CHECK) == {}
    assert not await pool.fetchval("SELECT identity_checked FROM groups WHERE group_id = $1", uuid.UUID(group_id))

    links.down = False  # back: the next batch checks it
    assert await job.run_once() == 1
    assert await _published(pool, GROUP_FLAGGED) == [group_id]


# --- the lease job


class Catalog:
    """Catalog's LeaseStock for the lease job: the grant asked for, except for the leases named."""

    def __init__(self, *, overgranted: str, unlisted: str):
        self.overgranted, self.unlisted = overgranted, unlisted
        self.down = False

    async def lease(self, *, sku_id: str, quantity: int, lease_id: str) -> int:
        if self.down:
            raise Unavailable("catalog did not answer; retry", reason="CATALOG_UNAVAILABLE")
        if sku_id == self.unlisted:
            raise FailedPrecondition(f"{sku_id} is not listed", reason="NOT_LISTED")
        return quantity + 1 if lease_id == self.overgranted else quantity  # a grant no lease can hold


async def _lease(pool: asyncpg.Pool, sku_id: str) -> str:
    lease_id = str(uuid.uuid4())
    await pool.execute(
        """INSERT INTO stock_leases (lease_id, sku_id, quantity, asked_at)
        VALUES ($1, $2, 16, now() - interval '1 hour')""",
        uuid.UUID(lease_id),
        sku_id,
    )
    return lease_id


async def test_the_lease_job_sets_aside_a_lease_it_cannot_credit_and_credits_the_others(db: JobDatabase) -> None:
    pool = db.pool
    poisoned, good, unlisted = [await _lease(pool, sku) for sku in ("sku-a", "sku-b", "sku-gone")]
    catalog = Catalog(overgranted=poisoned, unlisted="sku-gone")
    allotment = Allotment(pool, catalog, block=16, clock=lambda: datetime.now(UTC))
    job = LeaseJob(_uow(pool), allotment, poll_seconds=0.01)

    catalog.down = True  # catalog away: nothing credited, nothing set aside, all tried again later
    with pytest.raises(Unavailable):
        await job.run_once()
    assert await set_aside(pool, LEASE_CREDIT) == {}
    catalog.down = False

    assert await job.run_once() == 3
    granted = {str(r["lease_id"]): r["granted"] for r in await pool.fetch("SELECT lease_id, granted FROM stock_leases")}
    assert granted == {poisoned: None, good: 16, unlisted: 0}  # an unlisted SKU's lease is settled with nothing
    assert await pool.fetchval("SELECT sum(available) FROM allotments WHERE sku_id = 'sku-b'") == 16
    (row,) = (await set_aside(pool, LEASE_CREDIT)).values()
    assert row["row_key"] == poisoned
    assert "CheckViolationError" in row["error"]
    assert await job.run_once() == 0
