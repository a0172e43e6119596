"""Inventory over a fake unit of work: stock levels, reservations all-or-nothing and idempotent by order id,
contended reservations retried, commits, releases, order events and the expiry of holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.core import AlreadyExists, BusinessLine, FailedPrecondition, NotFound
from services.catalog.domain.model import (
    GroupRule,
    Prices,
    Reservation,
    ReservationItem,
    ReservationState,
    StockLevel,
)
from services.catalog.service_layer import inventory
from services.catalog.service_layer.unit_of_work import UnitOfWork
from tests.unit.catalog.fakes import OTHER_SKU, SKU, FakeUnitOfWork, in_transaction, seeded_database

HOLD = timedelta(minutes=20)
RED, BLUE = ReservationItem(SKU, 2), ReservationItem(OTHER_SKU, 1)


@pytest.fixture
async def uow() -> FakeUnitOfWork:
    """Both SKUs listed on pingou with 10 in stock each."""
    uow = FakeUnitOfWork(seeded_database(), BusinessLine.PINGOU)
    async with uow:
        for sku_id in (SKU, OTHER_SKU):
            await uow.catalog.upsert_listing(
                await uow.catalog.sku_with_product(sku_id),
                Prices(3900, group_price_minor=2900, group_rule=GroupRule(size=2)),
            )
            await uow.catalog.set_stock(sku_id, 10)
    return uow


def level(uow: FakeUnitOfWork, sku_id: str = SKU) -> StockLevel:
    buckets = uow.tables.stock[sku_id]
    return StockLevel(sum(buckets), 0, uow.tables.stock_leases.get(sku_id, 0))


async def reserve(uow: FakeUnitOfWork, order_id: str = "o-1", *items: ReservationItem) -> Reservation:
    return await inventory.reserve_stock(lambda: uow, order_id=order_id, items=items or (BLUE, RED), hold=HOLD)


async def stock_of(uow: FakeUnitOfWork, sku_id: str = SKU) -> StockLevel:
    return await in_transaction(uow, lambda: inventory.get_stock(uow, sku_id))


def expire_hold(uow: FakeUnitOfWork, order_id: str) -> None:
    """The hold ran out (holds are measured on the wall clock)."""
    reservation = uow.tables.reservations[order_id]
    uow.tables.reservations[order_id] = replace(reservation, expires_at=datetime.now(UTC) - timedelta(seconds=1))


# --- stock levels


async def test_setting_stock_stores_and_announces_it(uow: FakeUnitOfWork) -> None:
    stock = await in_transaction(uow, lambda: inventory.set_stock(uow, sku_id=SKU, available=25))
    assert stock == StockLevel(available=25, reserved=0, leased=0)
    assert uow.published[-1] == pb.StockSet(sku_id=SKU, available=25)
    assert uow.keys[-1] == SKU
    assert uow.tables.outbox[-1].topic == "pingou.inventory.v1"


async def test_stock_of_an_unknown_sku_cannot_be_set(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        await in_transaction(uow, lambda: inventory.set_stock(uow, sku_id="sku-none", available=5))
    assert caught.value.reason == "SKU_NOT_FOUND"
    assert "sku-none" not in uow.tables.stock
    assert uow.published == []


async def test_a_sku_without_stock_on_the_line_is_not_found(uow: FakeUnitOfWork) -> None:
    mall = FakeUnitOfWork(uow.database, BusinessLine.MALL)
    with pytest.raises(NotFound) as caught:
        await stock_of(mall)
    assert caught.value.reason == "STOCK_NOT_FOUND"


# --- reserve


async def test_a_reservation_takes_its_items_and_announces_them(uow: FakeUnitOfWork) -> None:
    before = datetime.now(UTC)
    reservation = await reserve(uow, "o-1", BLUE, RED)

    assert (reservation.order_id, reservation.state) == ("o-1", ReservationState.RESERVED)
    assert reservation.items == (ReservationItem(OTHER_SKU, 1), ReservationItem(SKU, 2))  # sorted by SKU
    assert before + HOLD <= reservation.expires_at <= datetime.now(UTC) + HOLD
    assert await stock_of(uow, SKU) == StockLevel(available=8, reserved=2, leased=0)
    assert await stock_of(uow, OTHER_SKU) == StockLevel(available=9, reserved=1, leased=0)
    assert uow.published[-1] == pb.StockReserved(
        order_id="o-1",
        items=[pb.ReservationItem(sku_id=OTHER_SKU, quantity=1), pb.ReservationItem(sku_id=SKU, quantity=2)],
    )
    assert uow.keys[-1] == "o-1"


async def test_a_retried_reservation_answers_the_first_and_takes_nothing_more(uow: FakeUnitOfWork) -> None:
    first = await reserve(uow, "o-1", RED, BLUE)
    events = len(uow.published)
    again = await reserve(uow, "o-1", BLUE, RED)  # the same items, in another order
    assert again == first
    assert level(uow) == StockLevel(8, 0, 0)
    assert len(uow.published) == events


async def test_the_same_order_id_with_other_items_is_refused(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    with pytest.raises(AlreadyExists) as caught:
        await reserve(uow, "o-1", ReservationItem(SKU, 3))
    assert caught.value.reason == "RESERVATION_MISMATCH"
    assert level(uow) == StockLevel(8, 0, 0)


async def test_a_reservation_is_all_or_nothing_over_its_items(uow: FakeUnitOfWork) -> None:
    events = len(uow.published)
    with pytest.raises(FailedPrecondition) as caught:
        await reserve(uow, "o-1", ReservationItem(OTHER_SKU, 1), ReservationItem(SKU, 11))
    assert caught.value.reason == "OUT_OF_STOCK"
    assert caught.value.metadata == {"sku_id": SKU}
    assert (level(uow, OTHER_SKU), level(uow, SKU)) == (StockLevel(10, 0, 0), StockLevel(10, 0, 0))
    assert "o-1" not in uow.tables.reservations
    assert len(uow.published) == events

    # nothing of the refused attempt remains: the order id is free for a reservation that fits
    assert (await reserve(uow, "o-1", ReservationItem(SKU, 10))).state is ReservationState.RESERVED


async def test_stock_is_reserved_only_for_skus_listed_on_the_line(uow: FakeUnitOfWork) -> None:
    await in_transaction(uow, lambda: uow.catalog.deactivate_listing(OTHER_SKU))
    with pytest.raises(FailedPrecondition) as caught:
        await reserve(uow, "o-1", RED, BLUE)
    assert caught.value.reason == "NOT_LISTED"
    assert caught.value.metadata == {"sku_id": OTHER_SKU}
    assert (level(uow), uow.tables.reservations) == (StockLevel(10, 0, 0), {})


async def test_a_contended_reservation_is_retried_and_its_last_tries_wait_for_held_stock(
    uow: FakeUnitOfWork,
) -> None:
    uow.repository.contended[SKU] = inventory.SKIP_LOCKED_TRIES  # every skipping try finds the buckets held
    rollbacks = uow.rollbacks

    reservation = await reserve(uow, "o-1", RED)

    assert reservation.state is ReservationState.RESERVED
    assert uow.repository.takes == [(SKU, False)] * inventory.SKIP_LOCKED_TRIES + [(SKU, True)]
    assert uow.rollbacks - rollbacks == inventory.SKIP_LOCKED_TRIES  # each contended try rolled back whole
    assert level(uow) == StockLevel(8, 0, 0)
    assert sum(isinstance(event, pb.StockReserved) for event in uow.published) == 1


async def test_a_reservation_that_is_not_contended_does_not_wait(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    assert uow.repository.takes == [(SKU, False)]


# --- commit and release


async def test_committing_a_reservation_keeps_its_stock_sold_and_announces_it(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    committed = await in_transaction(uow, lambda: inventory.commit(uow, "o-1"))
    again = await in_transaction(uow, lambda: inventory.commit(uow, "o-1"))

    assert committed.state is again.state is ReservationState.COMMITTED
    assert uow.tables.reservations["o-1"].state is ReservationState.COMMITTED
    assert await stock_of(uow) == StockLevel(available=8, reserved=0, leased=0)
    commits = [event for event in uow.published if isinstance(event, pb.StockCommitted)]
    assert commits == [pb.StockCommitted(order_id="o-1", items=[pb.ReservationItem(sku_id=SKU, quantity=2)])]


async def test_a_reservation_whose_hold_ran_out_cannot_be_committed(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    expire_hold(uow, "o-1")
    with pytest.raises(FailedPrecondition) as caught:
        await in_transaction(uow, lambda: inventory.commit(uow, "o-1"))
    assert caught.value.reason == "RESERVATION_EXPIRED"
    assert uow.tables.reservations["o-1"].state is ReservationState.RESERVED


async def test_a_released_reservation_cannot_be_committed(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    await in_transaction(uow, lambda: inventory.release(uow, "o-1"))
    with pytest.raises(FailedPrecondition) as caught:
        await in_transaction(uow, lambda: inventory.commit(uow, "o-1"))
    assert caught.value.reason == "RESERVATION_RELEASED"
    assert level(uow) == StockLevel(10, 0, 0)


async def test_releasing_gives_back_exactly_what_was_taken_once(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED, BLUE)
    buckets_before = list(uow.tables.stock[SKU])
    released = await in_transaction(uow, lambda: inventory.release(uow, "o-1"))
    again = await in_transaction(uow, lambda: inventory.release(uow, "o-1"))

    assert released.state is again.state is ReservationState.RELEASED
    assert (level(uow, SKU), level(uow, OTHER_SKU)) == (StockLevel(10, 0, 0), StockLevel(10, 0, 0))
    assert sum(buckets_before) == 8
    assert uow.tables.stock[SKU] == [2, 2, 1, 1, 1, 1, 1, 1]  # every bucket as set_stock left it
    releases = [event for event in uow.published if isinstance(event, pb.StockReleased)]
    assert [(event.order_id, event.expired) for event in releases] == [("o-1", False)]


async def test_a_committed_reservation_cannot_be_released(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    await in_transaction(uow, lambda: inventory.commit(uow, "o-1"))
    with pytest.raises(FailedPrecondition) as caught:
        await in_transaction(uow, lambda: inventory.release(uow, "o-1"))
    assert caught.value.reason == "RESERVATION_COMMITTED"
    assert level(uow) == StockLevel(8, 0, 0)


@pytest.mark.parametrize("settle", [inventory.commit, inventory.release])
async def test_settling_an_unknown_reservation_is_not_found(
    uow: FakeUnitOfWork, settle: Callable[[UnitOfWork, str], Awaitable[Reservation]]
) -> None:
    with pytest.raises(NotFound) as caught:
        await in_transaction(uow, lambda: settle(uow, "o-none"))
    assert caught.value.reason == "RESERVATION_NOT_FOUND"


# --- order events


async def test_a_paid_order_commits_its_reservation_even_after_its_hold(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    expire_hold(uow, "o-1")  # the payment was accepted in time; its event came late
    settled = await in_transaction(uow, lambda: inventory.settle_for_order(uow, "o-1", to=ReservationState.COMMITTED))
    assert settled is not None
    assert settled.state is ReservationState.COMMITTED
    assert isinstance(uow.published[-1], pb.StockCommitted)


async def test_a_cancelled_order_releases_its_reservation(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    settled = await in_transaction(uow, lambda: inventory.settle_for_order(uow, "o-1", to=ReservationState.RELEASED))
    assert settled is not None
    assert settled.state is ReservationState.RELEASED
    assert level(uow) == StockLevel(10, 0, 0)
    assert uow.published[-1] == pb.StockReleased(
        order_id="o-1", items=[pb.ReservationItem(sku_id=SKU, quantity=2)], expired=False
    )


async def test_an_order_event_for_a_reservation_already_there_changes_nothing(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    await in_transaction(uow, lambda: inventory.settle_for_order(uow, "o-1", to=ReservationState.COMMITTED))
    events = len(uow.published)
    again = await in_transaction(uow, lambda: inventory.settle_for_order(uow, "o-1", to=ReservationState.COMMITTED))
    assert again is not None
    assert again.state is ReservationState.COMMITTED
    assert len(uow.published) == events
    assert level(uow) == StockLevel(8, 0, 0)


async def test_a_paid_order_whose_stock_was_already_released_announces_the_failed_commit(
    uow: FakeUnitOfWork,
) -> None:
    await reserve(uow, "o-1", RED)
    await in_transaction(uow, lambda: inventory.release(uow, "o-1"))
    settled = await in_transaction(uow, lambda: inventory.settle_for_order(uow, "o-1", to=ReservationState.COMMITTED))
    assert settled is not None
    assert settled.state is ReservationState.RELEASED
    assert uow.published[-1] == pb.StockCommitFailed(
        order_id="o-1", items=[pb.ReservationItem(sku_id=SKU, quantity=2)], reason="RESERVATION_RELEASED"
    )
    assert level(uow) == StockLevel(10, 0, 0)  # the stock stays on sale: the order service refunds


@pytest.mark.parametrize("group", [True, False])
async def test_an_order_event_without_a_reservation_is_answered_with_none(uow: FakeUnitOfWork, group: bool) -> None:
    events = len(uow.published)
    settled = await in_transaction(
        uow,
        lambda: inventory.settle_for_order(uow, "o-joined", to=ReservationState.COMMITTED, may_lack_reservation=group),
    )
    assert settled is None
    assert len(uow.published) == events


# --- expiry


async def test_expiry_releases_the_reservations_whose_hold_ran_out_once(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-due", RED)
    await reserve(uow, "o-held", BLUE)
    expire_hold(uow, "o-due")

    settled = await in_transaction(uow, lambda: inventory.release_expired(uow))
    again = await in_transaction(uow, lambda: inventory.release_expired(uow))

    assert [r.order_id for r in settled.done] == ["o-due"]
    assert (settled.claimed, settled.set_aside, again.claimed) == (1, [], 0)
    assert uow.tables.reservations["o-due"].state is ReservationState.RELEASED
    assert uow.tables.reservations["o-held"].state is ReservationState.RESERVED
    assert (level(uow, SKU), level(uow, OTHER_SKU)) == (StockLevel(10, 0, 0), StockLevel(9, 0, 0))
    releases = [event for event in uow.published if isinstance(event, pb.StockReleased)]
    assert [(event.order_id, event.expired) for event in releases] == [("o-due", True)]


async def test_expiry_never_releases_a_committed_reservation(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    await in_transaction(uow, lambda: inventory.commit(uow, "o-1"))
    expire_hold(uow, "o-1")
    settled = await in_transaction(uow, lambda: inventory.release_expired(uow))
    assert settled.claimed == 0
    assert level(uow) == StockLevel(8, 0, 0)


async def test_expiry_skips_a_reservation_that_was_set_aside(uow: FakeUnitOfWork) -> None:
    await reserve(uow, "o-1", RED)
    expire_hold(uow, "o-1")
    uow.tables.set_aside.add((inventory.RESERVATION_EXPIRY.name, "o-1"))
    settled = await in_transaction(uow, lambda: inventory.release_expired(uow))
    assert settled.claimed == 0
    assert uow.tables.reservations["o-1"].state is ReservationState.RESERVED
