"""Stock leased to groupbuy over a fake unit of work: a lease grants what there is, a return never exceeds
the lease, both are idempotent by lease id, and a refused call writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.core import AlreadyExists, BusinessLine, FailedPrecondition, NotFound
from services.catalog.domain.model import GroupRule, LeaseKind, Prices, StockLease, StockLevel
from services.catalog.service_layer.inventory import get_stock
from services.catalog.service_layer.leases import lease_stock, return_stock
from tests.unit.catalog.fakes import OTHER_SKU, SKU, FakeUnitOfWork, in_transaction, seeded_database


@pytest.fixture
async def uow() -> FakeUnitOfWork:
    """SKU listed on pingou with 10 in stock; OTHER_SKU in stock (6) but not listed."""
    uow = FakeUnitOfWork(seeded_database(), BusinessLine.PINGOU)
    async with uow:
        await uow.catalog.upsert_listing(
            await uow.catalog.sku_with_product(SKU), Prices(3900, group_price_minor=2900, group_rule=GroupRule(size=2))
        )
        await uow.catalog.set_stock(SKU, 10)
        await uow.catalog.set_stock(OTHER_SKU, 6)
    return uow


def lease_id() -> str:
    return str(uuid.uuid4())


async def lease(uow: FakeUnitOfWork, quantity: int, lease: str, sku_id: str = SKU) -> StockLease:
    return await in_transaction(uow, lambda: lease_stock(uow, sku_id=sku_id, quantity=quantity, lease_id=lease))


async def give_back(uow: FakeUnitOfWork, quantity: int, lease: str, sku_id: str = SKU) -> StockLease:
    return await in_transaction(uow, lambda: return_stock(uow, sku_id=sku_id, quantity=quantity, lease_id=lease))


async def stock(uow: FakeUnitOfWork, sku_id: str = SKU) -> StockLevel:
    return await in_transaction(uow, lambda: get_stock(uow, sku_id))


async def test_a_lease_moves_stock_out_of_the_buckets_and_announces_it(uow: FakeUnitOfWork) -> None:
    first = lease_id()
    leased = await lease(uow, 4, first)

    assert leased == StockLease(first, LeaseKind.LEASE, SKU, BusinessLine.PINGOU, quantity=4, leased=4)
    assert await stock(uow) == StockLevel(available=6, reserved=0, leased=4)
    assert uow.tables.stock[SKU] == [1, 1, 1, 1, 1, 1, 0, 0]  # spread evenly, as SetStock spreads it
    assert uow.published[-1] == pb.StockLeased(lease_id=first, sku_id=SKU, quantity=4, leased=4)
    assert uow.keys[-1] == SKU


async def test_a_lease_grants_what_there_is_and_zero_is_an_answer(uow: FakeUnitOfWork) -> None:
    most = await lease(uow, 25, lease_id())
    none = await lease(uow, 3, lease_id())
    assert (most.quantity, most.leased) == (10, 10)
    assert (none.quantity, none.leased) == (0, 10)
    assert await stock(uow) == StockLevel(available=0, reserved=0, leased=10)


async def test_a_retried_lease_answers_the_first_and_takes_nothing_more(uow: FakeUnitOfWork) -> None:
    first = lease_id()
    answer = await lease(uow, 4, first)
    events = len(uow.published)
    assert await lease(uow, 4, first) == answer
    assert await stock(uow) == StockLevel(available=6, reserved=0, leased=4)
    assert len(uow.published) == events


async def test_a_lease_of_a_sku_not_listed_is_refused_and_leaves_its_lease_id_unused(uow: FakeUnitOfWork) -> None:
    refused = lease_id()
    with pytest.raises(FailedPrecondition) as caught:
        await lease(uow, 2, refused, sku_id=OTHER_SKU)
    assert caught.value.reason == "NOT_LISTED"
    assert await stock(uow, OTHER_SKU) == StockLevel(available=6, reserved=0, leased=0)
    assert refused not in uow.tables.lease_requests


@pytest.mark.parametrize("call", [lease, give_back])
async def test_a_sku_without_stock_on_the_line_cannot_be_leased_or_returned(
    uow: FakeUnitOfWork, call: Callable[[FakeUnitOfWork, int, str], Awaitable[StockLease]]
) -> None:
    mall = FakeUnitOfWork(uow.database, BusinessLine.MALL)
    refused = lease_id()
    with pytest.raises(NotFound) as caught:
        await call(mall, 1, refused)
    assert caught.value.reason == "STOCK_NOT_FOUND"
    assert mall.tables.lease_requests == {}


async def test_a_return_puts_units_back_on_sale_and_announces_it(uow: FakeUnitOfWork) -> None:
    await lease(uow, 6, lease_id())
    back = lease_id()
    returned = await give_back(uow, 4, back)

    assert returned == StockLease(back, LeaseKind.RETURN, SKU, BusinessLine.PINGOU, quantity=4, leased=2)
    assert await stock(uow) == StockLevel(available=8, reserved=0, leased=2)
    assert uow.published[-1] == pb.StockReturned(lease_id=back, sku_id=SKU, quantity=4, leased=2)


async def test_a_retried_return_gives_back_once(uow: FakeUnitOfWork) -> None:
    await lease(uow, 6, lease_id())
    back = lease_id()
    first = await give_back(uow, 4, back)
    assert await give_back(uow, 4, back) == first
    assert await stock(uow) == StockLevel(available=8, reserved=0, leased=2)


async def test_returning_more_than_is_leased_is_refused_and_writes_nothing(uow: FakeUnitOfWork) -> None:
    await lease(uow, 3, lease_id())
    buckets, events, refused = list(uow.tables.stock[SKU]), len(uow.published), lease_id()

    with pytest.raises(FailedPrecondition) as caught:
        await give_back(uow, 4, refused)
    assert caught.value.reason == "RETURN_EXCEEDS_LEASE"
    assert caught.value.metadata == {"sku_id": SKU}
    assert uow.tables.stock[SKU] == buckets
    assert uow.tables.stock_leases[SKU] == 3
    assert refused not in uow.tables.lease_requests
    assert len(uow.published) == events


async def test_a_sku_no_longer_listed_still_takes_its_units_back(uow: FakeUnitOfWork) -> None:
    await lease(uow, 5, lease_id())
    await in_transaction(uow, lambda: uow.catalog.deactivate_listing(SKU))
    returned = await give_back(uow, 5, lease_id())
    assert returned.leased == 0
    assert await stock(uow) == StockLevel(available=10, reserved=0, leased=0)


async def test_a_lease_id_used_for_another_call_is_refused(uow: FakeUnitOfWork) -> None:
    used = lease_id()
    await lease(uow, 2, used)
    with pytest.raises(AlreadyExists) as as_return:
        await give_back(uow, 1, used)
    with pytest.raises(AlreadyExists) as for_other_sku:
        await lease(uow, 2, used, sku_id=OTHER_SKU)
    assert as_return.value.reason == for_other_sku.value.reason == "LEASE_ID_REUSED"
    assert as_return.value.metadata == {"lease_id": used}
    assert await stock(uow) == StockLevel(available=8, reserved=0, leased=2)
