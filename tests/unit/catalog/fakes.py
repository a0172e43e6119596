"""In-memory stand-ins for the catalog's unit of work and repository, for unit tests of the service layer
(cosmicpython's fake unit of work). The SQL itself, take_stock() included, is proven by
tests/integration/catalog.

The fakes subclass the real classes so that mypy holds every faked method to the real signature; they
never call the real constructors, so a method the fakes do not implement fails loudly (no connection)
instead of passing. A transaction is a snapshot of the tables: leaving it with an error puts the snapshot
back and drops the queued events, as Postgres's rollback would; a commit appends the events to the line's
outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from libs.core import BusinessLine
from libs.events.outbox import OutboxEvent
from services.catalog.adapters.repository import CatalogRepository
from services.catalog.domain.model import (
    STOCK_BUCKETS,
    LeaseKind,
    Listing,
    Prices,
    Product,
    Reservation,
    ReservationItem,
    ReservationState,
    Sku,
    StockLease,
    StockLevel,
)
from services.catalog.service_layer.unit_of_work import UnitOfWork
from tests.unit.fake_uow import FakeLineTransaction

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Part:
    """A reservation_parts row: what an order took from one bucket."""

    sku_id: str
    bucket: int
    quantity: int


@dataclass
class LineTables:
    """One line's schema (catalog_mall or catalog_pingou)."""

    listings: dict[str, Listing] = field(default_factory=dict)  # listings, PRIMARY KEY (sku_id)
    stock: dict[str, list[int]] = field(default_factory=dict)  # stock (sku_id, bucket) -> available
    reservations: dict[str, Reservation] = field(default_factory=dict)  # reservations, PRIMARY KEY (order_id)
    parts: dict[str, list[Part]] = field(default_factory=dict)  # reservation_parts by order
    stock_leases: dict[str, int] = field(default_factory=dict)  # stock_leases, PRIMARY KEY (sku_id)
    lease_requests: dict[str, StockLease] = field(default_factory=dict)  # lease_requests, PRIMARY KEY (lease_id)
    set_aside: set[tuple[str, str]] = field(default_factory=set)  # job_set_aside (job, row)
    outbox: list[OutboxEvent] = field(default_factory=list)


@dataclass
class FakeDatabase:
    """The shared `catalog` schema (reference data, products, SKUs) and both lines' schemas."""

    belts: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    merchants: set[str] = field(default_factory=set)
    products: dict[str, Product] = field(default_factory=dict)
    lines: dict[BusinessLine, LineTables] = field(default_factory=lambda: {line: LineTables() for line in BusinessLine})

    def restore(self, snapshot: FakeDatabase) -> None:
        self.__dict__.update(snapshot.__dict__)


def _unique_violation(what: str) -> asyncpg.UniqueViolationError:
    return asyncpg.UniqueViolationError(f"duplicate key value violates unique constraint {what}")


def _check_listing(prices: Prices) -> None:
    """The listings table's CHECKs: the last word on a consistent listing, whatever the code above does."""
    price, plus, group, leader = (
        prices.price_minor,
        prices.plus_price_minor,
        prices.group_price_minor,
        prices.leader_price_minor,
    )
    consistent = (
        price > 0
        and (plus is None or 0 < plus < price)
        and (group is None or 0 < group < price)
        and (leader is None or (group is not None and 0 < leader <= group))
        and ((group is None) == (prices.group_rule is None))
    )
    if not consistent:
        raise asyncpg.CheckViolationError("new row for relation listings violates a check constraint")


class FakeCatalogRepository(CatalogRepository):
    def __init__(self, database: FakeDatabase, line: BusinessLine) -> None:  # no connection on purpose
        self._database = database
        self.line = line
        self.contended: dict[str, int] = {}  # takes of a SKU that will find its buckets held by others
        self.takes: list[tuple[str, bool]] = []  # (sku, wait) of every take_stock

    @property
    def _tables(self) -> LineTables:
        return self._database.lines[self.line]

    # --- reference data and products

    async def merchant_exists(self, merchant_id: str) -> bool:
        return merchant_id in self._database.merchants

    async def reference_exists(self, table: str, key: str, value: str) -> bool:
        known = {("belts", "belt_id"): self._database.belts, ("categories", "category_id"): self._database.categories}
        return value in known[(table, key)]

    async def add_product(self, product: Product) -> None:
        skus = {sku.sku_id for p in self._database.products.values() for sku in p.skus}
        if product.product_id in self._database.products:  # products' PRIMARY KEY
            raise _unique_violation("products_pkey")
        if any(sku.sku_id in skus for sku in product.skus):  # skus' PRIMARY KEY
            raise _unique_violation("skus_pkey")
        self._database.products[product.product_id] = product

    async def products(self, product_ids: Sequence[str]) -> list[Product]:
        return [self._database.products[p] for p in sorted(set(product_ids)) if p in self._database.products]

    async def sku_with_product(self, sku_id: str) -> Any:
        for product in self._database.products.values():
            for sku in product.skus:
                if sku.sku_id == sku_id:
                    return {
                        "sku_id": sku.sku_id,
                        "sku_title": sku.title,
                        "image_url": sku.image_url,
                        "product_id": product.product_id,
                        "merchant_id": product.merchant_id,
                        "title": product.title,
                        "category_id": product.category_id,
                        "belt_id": product.belt_id,
                        "factory_direct": product.factory_direct,
                        "image_urls": list(product.image_urls),
                    }
        return None

    # --- listings

    async def upsert_listing(self, sku: Any, prices: Prices) -> Listing:
        _check_listing(prices)
        current = self._tables.listings.get(sku["sku_id"])
        listing = Listing(
            sku_id=sku["sku_id"],
            line=self.line,
            product_id=sku["product_id"],
            title=f"{sku['title']} {sku['sku_title']}".strip(),
            category_id=sku["category_id"],
            belt_id=sku["belt_id"],
            factory_direct=sku["factory_direct"],
            image_url=sku["image_url"] or (sku["image_urls"][0] if sku["image_urls"] else ""),
            prices=prices,
            active=True,
            version=1 if current is None else current.version + 1,  # ON CONFLICT ... version = l.version + 1
            updated_at=datetime.now(UTC),
        )
        self._tables.listings[listing.sku_id] = listing
        return listing

    async def deactivate_listing(self, sku_id: str) -> Listing | None:
        current = self._tables.listings.get(sku_id)
        if current is None:
            return None
        self._tables.listings[sku_id] = replace(current, active=False, version=current.version + 1)
        return self._tables.listings[sku_id]

    async def listings(self, sku_ids: Sequence[str]) -> list[Listing]:
        return [self._tables.listings[s] for s in sorted(set(sku_ids)) if s in self._tables.listings]

    async def unlisted(self, sku_ids: Sequence[str]) -> list[str]:
        listed = {sku for sku, listing in self._tables.listings.items() if listing.active}
        return [sku for sku in sku_ids if sku not in listed]

    # --- stock

    async def set_stock(self, sku_id: str, available: int) -> None:
        self._tables.stock[sku_id] = _spread(available)

    async def stock(self, sku_id: str) -> StockLevel | None:
        buckets = self._tables.stock.get(sku_id)
        if buckets is None:
            return None
        reserved = sum(
            part.quantity
            for order_id, parts in self._tables.parts.items()
            if self._tables.reservations[order_id].state is ReservationState.RESERVED
            for part in parts
            if part.sku_id == sku_id
        )
        return StockLevel(sum(buckets), reserved, self._tables.stock_leases.get(sku_id, 0))

    async def has_stock(self, sku_id: str) -> bool:
        return sku_id in self._tables.stock

    async def reservation(self, order_id: str, *, lock: bool = False) -> Reservation | None:
        return self._tables.reservations.get(order_id)

    async def add_reservation(self, order_id: str, items: Sequence[ReservationItem], expires_at: datetime) -> bool:
        if order_id in self._tables.reservations:  # ON CONFLICT (order_id) DO NOTHING
            return False
        self._tables.reservations[order_id] = Reservation(
            order_id, self.line, tuple(items), ReservationState.RESERVED, expires_at
        )
        return True

    async def take_stock(self, order_id: str, item: ReservationItem, *, start_bucket: int, wait: bool) -> str:
        """take_stock(): from the buckets in turn from `start_bucket`, all or nothing. Buckets held by
        others (`contended`) are skipped unless the take waits for them."""
        self.takes.append((item.sku_id, wait))
        buckets = self._tables.stock.get(item.sku_id)
        if buckets is None or sum(buckets) < item.quantity:
            return "insufficient"
        if not wait and self.contended.get(item.sku_id, 0) > 0:
            self.contended[item.sku_id] -= 1
            return "contended"
        need = item.quantity
        for step in range(STOCK_BUCKETS):
            bucket = (start_bucket + step) % STOCK_BUCKETS
            taken = min(need, buckets[bucket])
            if taken:
                buckets[bucket] -= taken
                self._tables.parts.setdefault(order_id, []).append(Part(item.sku_id, bucket, taken))
                need -= taken
        return "reserved"

    async def settle(self, order_ids: Sequence[str], state: ReservationState) -> None:
        for order_id in order_ids:
            self._tables.reservations[order_id] = replace(self._tables.reservations[order_id], state=state)

    async def give_back(self, order_ids: Sequence[str]) -> None:
        for order_id in order_ids:
            for part in self._tables.parts.get(order_id, []):
                self._tables.stock[part.sku_id][part.bucket] += part.quantity

    async def claim_due_reservations(self, *, job: str, limit: int) -> list[str]:
        now = datetime.now(UTC)
        due = [
            r
            for r in self._tables.reservations.values()
            if r.state is ReservationState.RESERVED
            and r.expires_at <= now
            and (job, r.order_id) not in self._tables.set_aside
        ]
        return [r.order_id for r in sorted(due, key=lambda r: r.expires_at)[:limit]]

    async def reservations(self, order_ids: Sequence[str]) -> list[Reservation]:
        return [self._tables.reservations[o] for o in sorted(set(order_ids)) if o in self._tables.reservations]

    # --- leases

    async def claim_lease_request(self, lease_id: str, kind: LeaseKind, sku_id: str, quantity: int) -> bool:
        uuid.UUID(lease_id)  # lease_requests.lease_id is a uuid column
        if lease_id in self._tables.lease_requests:  # ON CONFLICT (lease_id) DO NOTHING
            return False
        self._tables.lease_requests[lease_id] = StockLease(lease_id, kind, sku_id, self.line, quantity, 0)
        return True

    async def lease_request(self, lease_id: str) -> StockLease | None:
        return self._tables.lease_requests.get(lease_id)

    async def move_stock(self, sku_id: str, change: int) -> int | None:
        buckets = self._tables.stock.get(sku_id)
        if buckets is None:
            return None
        moved = max(change, -sum(buckets))  # a take takes at most all there is
        self._tables.stock[sku_id] = _spread(sum(buckets) + moved)
        return moved

    async def add_to_lease(self, lease_id: str, sku_id: str, granted: int) -> int:
        leased = self._tables.stock_leases.get(sku_id, 0) + granted
        self._tables.stock_leases[sku_id] = leased
        request = self._tables.lease_requests[lease_id]
        self._tables.lease_requests[lease_id] = replace(request, quantity=granted, leased=leased)
        return leased

    async def subtract_from_lease(self, lease_id: str, sku_id: str, returned: int) -> int | None:
        leased = self._tables.stock_leases.get(sku_id)
        if leased is None or leased < returned:  # WHERE leased >= $3, under CHECK (leased >= 0)
            return None
        self._tables.stock_leases[sku_id] = leased - returned
        request = self._tables.lease_requests[lease_id]
        self._tables.lease_requests[lease_id] = replace(request, leased=leased - returned)
        return leased - returned


def _spread(total: int) -> list[int]:
    """A SKU's stock over its buckets, as set_stock and move_stock spread it (the first get the rest)."""
    share, rest = divmod(total, STOCK_BUCKETS)
    return [share + (1 if bucket < rest else 0) for bucket in range(STOCK_BUCKETS)]


class FakeUnitOfWork(FakeLineTransaction, UnitOfWork):
    """One line's unit of work over the fake database; counts its commits and rollbacks."""

    database: FakeDatabase

    def __init__(self, database: FakeDatabase | None = None, line: BusinessLine = BusinessLine.PINGOU) -> None:
        super().__init__(None, line)
        self.database = database if database is not None else FakeDatabase()
        self.repository = FakeCatalogRepository(self.database, line)
        self.catalog = self.repository
        self.begin()

    @property
    def tables(self) -> LineTables:
        return self.database.lines[self.line]

    @property
    def keys(self) -> list[str]:
        """The keys (aggregate ids) of the line's committed events, in commit order."""
        return [event.aggregate_id for event in self.tables.outbox]


async def in_transaction(uow: FakeUnitOfWork, use_case: Callable[[], Awaitable[T]]) -> T:
    """Runs a use case inside the unit of work, as the servicer does (`async with uow: ...`)."""
    async with uow:
        return await use_case()


MERCHANT, CATEGORY, BELT = "m-caoxian-1", "c-hanfu", "belt-caoxian"
PRODUCT, SKU, OTHER_SKU = "spu-hanfu", "sku-hanfu-red", "sku-hanfu-blue"


def seeded_database() -> FakeDatabase:
    """Reference data and one product of two SKUs, as the demo catalog has them."""
    database = FakeDatabase(belts={BELT}, categories={CATEGORY}, merchants={MERCHANT})
    database.products[PRODUCT] = Product(
        product_id=PRODUCT,
        merchant_id=MERCHANT,
        category_id=CATEGORY,
        belt_id=BELT,
        factory_direct=True,
        title="曹县汉服",
        description="",
        image_urls=("https://img.example/hanfu.jpg",),
        attributes={},
        skus=(Sku(SKU, PRODUCT, "红色 M"), Sku(OTHER_SKU, PRODUCT, "蓝色 L")),
    )
    return database
