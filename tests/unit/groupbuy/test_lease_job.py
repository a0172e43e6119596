"""The lease job over a fake unit of work and a fake catalog: a lease whose grant was never credited is
asked again under its own id and credited once; one catalog refuses is settled with nothing; catalog away
leaves it for a later try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.core import FailedPrecondition, Unavailable
from services.groupbuy.service_layer.stock import LEASE_CREDIT, Allotment, credit_forgotten_leases
from tests.unit.groupbuy.fakes import FakeDatabase, FakeStockLeases, FakeUnitOfWork, StoredLease

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
SKU = "sku-hanfu"
OLDER_THAN = timedelta(minutes=1)


def forgotten(*lease_ids: str, asked_ago: timedelta = timedelta(minutes=5)) -> FakeDatabase:
    """Leases of 400 asked `asked_ago` and never credited (catalog's answer lost, or the process died)."""
    database = FakeDatabase()
    for number, lease_id in enumerate(lease_ids):
        database.leases[lease_id] = StoredLease(SKU, 400, NOW - asked_ago + timedelta(seconds=number))
    return database


async def run(database: FakeDatabase, catalog: FakeStockLeases) -> list[int]:
    uow = FakeUnitOfWork(database)
    allotment = Allotment(None, catalog, block=400, clock=lambda: NOW)  # its own pool is not reached by the job
    async with uow:
        settled = await credit_forgotten_leases(uow, allotment, now=NOW, older_than=OLDER_THAN, limit=10)
    return settled.done


async def test_a_forgotten_lease_is_asked_again_under_its_id_and_credited_to_the_allotment() -> None:
    database = forgotten("lease-1")
    catalog = FakeStockLeases(available=1000)
    catalog.answers["lease-1"] = 250  # catalog granted 250 the first time; the answer was lost

    assert await run(database, catalog) == [250]
    assert catalog.asked == ["lease-1"]
    assert (database.leases["lease-1"].granted, database.leases["lease-1"].credited_at) == (250, NOW)
    assert database.available(SKU) == 250
    assert sorted(database.allotments.values()) == [31] * 6 + [32] * 2  # spread over the eight buckets


async def test_a_lease_is_credited_once() -> None:
    database = forgotten("lease-1")
    catalog = FakeStockLeases(available=1000)
    await run(database, catalog)
    assert await run(database, catalog) == []
    assert database.available(SKU) == 400


async def test_a_lease_catalog_refuses_is_settled_with_nothing() -> None:
    database = forgotten("lease-1")
    refused = FakeStockLeases(available=0, refusal=FailedPrecondition("not listed", reason="NOT_LISTED"))
    assert await run(database, refused) == [0]
    assert (database.leases["lease-1"].granted, database.available(SKU)) == (0, 0)
    assert await run(database, refused) == []  # settled for good


async def test_catalog_away_rolls_the_batch_back_for_a_later_try() -> None:
    database = forgotten("lease-1", "lease-2")
    with pytest.raises(Unavailable):
        await run(database, FakeStockLeases(available=1000, down=True))
    assert all(lease.credited_at is None for lease in database.leases.values())
    assert database.allotments == {}


async def test_a_recent_lease_is_left_to_its_own_join_and_a_set_aside_one_to_the_operator() -> None:
    database = forgotten("lease-recent", asked_ago=timedelta(seconds=30))
    database.leases.update(forgotten("lease-aside").leases)
    database.set_aside.add((LEASE_CREDIT.name, "lease-aside"))
    catalog = FakeStockLeases(available=1000)
    assert await run(database, catalog) == []
    assert catalog.asked == []
