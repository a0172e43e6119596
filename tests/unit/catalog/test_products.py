"""Products and listings over a fake unit of work: ids issued on creation, references that must exist,
listings checked before they are written, and every listing change announced."""

from __future__ import annotations

import pytest
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.core import BusinessLine, FailedPrecondition, InvalidArgument, NotFound
from services.catalog.domain.model import GroupRule, Prices, Product, Sku
from services.catalog.service_layer import announcements, products
from tests.unit.catalog.fakes import (
    BELT,
    CATEGORY,
    MERCHANT,
    SKU,
    FakeUnitOfWork,
    in_transaction,
    seeded_database,
)

GROUP_PRICES = Prices(3900, group_price_minor=2900, leader_price_minor=2500, group_rule=GroupRule(size=3))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(seeded_database(), BusinessLine.PINGOU)


def draft(*, merchant: str = MERCHANT, category: str = CATEGORY, belt: str | None = BELT) -> Product:
    return Product(
        product_id="",
        merchant_id=merchant,
        category_id=category,
        belt_id=belt,
        factory_direct=False,
        title="义乌发夹",
        description="",
        image_urls=(),
        attributes={"材质": "合金"},
        skus=(Sku("", "", "金色"), Sku("sku-given", "", "银色")),
    )


async def test_creating_a_product_issues_its_ids_and_stores_it(uow: FakeUnitOfWork) -> None:
    created = await in_transaction(uow, lambda: products.create_product(uow, draft()))

    assert created.product_id.startswith("spu-")
    new_sku, given_sku = created.skus
    assert new_sku.sku_id.startswith("sku-")
    assert given_sku.sku_id == "sku-given"
    assert {sku.product_id for sku in created.skus} == {created.product_id}
    assert uow.database.products[created.product_id] == created
    assert await in_transaction(uow, lambda: products.get_products(uow, [created.product_id])) == [created]


async def test_a_product_without_a_belt_needs_none(uow: FakeUnitOfWork) -> None:
    created = await in_transaction(uow, lambda: products.create_product(uow, draft(belt=None)))
    assert created.belt_id is None


@pytest.mark.parametrize(
    ("product", "reason"),
    [
        (draft(merchant="m-nobody"), "UNKNOWN_MERCHANT"),
        (draft(category="c-nothing"), "UNKNOWN_CATEGORY"),
        (draft(belt="belt-nowhere"), "UNKNOWN_BELT"),
    ],
)
async def test_a_product_naming_an_unknown_reference_is_refused_and_not_stored(
    uow: FakeUnitOfWork, product: Product, reason: str
) -> None:
    before = dict(uow.database.products)
    with pytest.raises(FailedPrecondition) as caught:
        await in_transaction(uow, lambda: products.create_product(uow, product))
    assert caught.value.reason == reason
    assert uow.database.products == before


async def test_the_merchant_of_a_sku_is_its_products(uow: FakeUnitOfWork) -> None:
    assert await in_transaction(uow, lambda: products.product_merchant(uow, SKU)) == MERCHANT
    with pytest.raises(NotFound) as caught:
        await in_transaction(uow, lambda: products.product_merchant(uow, "sku-none"))
    assert caught.value.reason == "SKU_NOT_FOUND"


async def test_listing_a_sku_stores_it_and_announces_it(uow: FakeUnitOfWork) -> None:
    listing = await in_transaction(uow, lambda: products.upsert_listing(uow, sku_id=SKU, prices=GROUP_PRICES))

    assert (listing.sku_id, listing.line, listing.active, listing.version) == (SKU, BusinessLine.PINGOU, True, 1)
    assert (listing.title, listing.image_url) == ("曹县汉服 红色 M", "https://img.example/hanfu.jpg")
    assert uow.tables.listings[SKU] == listing
    (changed,) = uow.published
    assert changed == pb.ListingChanged(listing=announcements.listing_to_proto(listing))
    assert uow.keys == [SKU]
    assert uow.tables.outbox[0].topic == "pingou.listing.v1"


async def test_each_change_of_a_listing_bumps_its_version(uow: FakeUnitOfWork) -> None:
    await in_transaction(uow, lambda: products.upsert_listing(uow, sku_id=SKU, prices=GROUP_PRICES))
    cheaper = Prices(3900, group_price_minor=2500, group_rule=GroupRule(size=2))
    again = await in_transaction(uow, lambda: products.upsert_listing(uow, sku_id=SKU, prices=cheaper))
    removed = await in_transaction(uow, lambda: products.remove_listing(uow, SKU))

    assert (again.version, again.prices) == (2, cheaper)
    assert (removed.version, removed.active) == (3, False)
    assert [event.listing.version for event in uow.published if isinstance(event, pb.ListingChanged)] == [1, 2, 3]


@pytest.mark.parametrize(
    "prices",
    [
        Prices(3900, group_price_minor=3900, group_rule=GroupRule(size=3)),  # the group price is no discount
        Prices(3900, group_price_minor=2900, leader_price_minor=3000, group_rule=GroupRule(size=3)),
        Prices(3900, group_price_minor=2900, group_rule=GroupRule(size=1)),
        Prices(3900, plus_price_minor=3500),  # a mall price on pingou
    ],
)
async def test_an_inconsistent_listing_is_refused_before_anything_is_written(
    uow: FakeUnitOfWork, prices: Prices
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await in_transaction(uow, lambda: products.upsert_listing(uow, sku_id=SKU, prices=prices))
    assert caught.value.reason == "INVALID_LISTING"
    assert caught.value.violations
    assert (uow.tables.listings, uow.published) == ({}, [])


async def test_a_mall_listing_takes_mall_prices() -> None:
    uow = FakeUnitOfWork(seeded_database(), BusinessLine.MALL)
    listing = await in_transaction(
        uow, lambda: products.upsert_listing(uow, sku_id=SKU, prices=Prices(3900, plus_price_minor=3500))
    )
    assert listing.line is BusinessLine.MALL
    assert uow.tables.outbox[0].topic == "mall.listing.v1"
    with pytest.raises(InvalidArgument):
        await in_transaction(uow, lambda: products.upsert_listing(uow, sku_id=SKU, prices=GROUP_PRICES))


async def test_listing_an_unknown_sku_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        await in_transaction(uow, lambda: products.upsert_listing(uow, sku_id="sku-none", prices=GROUP_PRICES))
    assert caught.value.reason == "SKU_NOT_FOUND"
    assert uow.published == []


async def test_removing_a_listing_that_does_not_exist_is_not_found(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotFound) as caught:
        await in_transaction(uow, lambda: products.remove_listing(uow, SKU))
    assert caught.value.reason == "LISTING_NOT_FOUND"
    assert uow.published == []
