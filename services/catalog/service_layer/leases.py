"""Use cases of stock leased to groupbuy: a lease moves up to a quantity of a SKU out of its buckets into
groupbuy's allotment, a return moves units back. Catalog stays the owner: stock_leases counts what is
out, and both calls are idempotent by the caller's lease id (lease_requests holds the first answer).

Each call is one transaction that takes its locks in one order: the lease id's row, then the SKU's
buckets (in bucket order, as every waiting writer of stock does), then the SKU's stock_leases row. Two
leases or returns therefore never deadlock, nor do they with reservations or releases.
"""

from __future__ import annotations

from pingou.catalog.v1 import catalog_pb2 as pb

from libs.core import AlreadyExists, FailedPrecondition
from services.catalog.domain.model import LeaseKind, StockLease
from services.catalog.service_layer.inventory import no_stock, require_listed
from services.catalog.service_layer.unit_of_work import INVENTORY_AGGREGATE, UnitOfWork


async def lease_stock(uow: UnitOfWork, *, sku_id: str, quantity: int, lease_id: str) -> StockLease:
    """Grant up to `quantity`: what there is, 0 when none is left (an answer, not an error)."""
    first = await _first_answer(uow, LeaseKind.LEASE, sku_id=sku_id, quantity=quantity, lease_id=lease_id)
    if first is not None:
        return first
    if not await uow.catalog.has_stock(sku_id):
        raise no_stock(uow, sku_id)
    await require_listed(uow, [sku_id])
    taken = await uow.catalog.move_stock(sku_id, -quantity)
    assert taken is not None  # stock rows are never deleted
    granted = -taken
    leased = await uow.catalog.add_to_lease(lease_id, sku_id, granted)
    uow.publish(
        INVENTORY_AGGREGATE,
        sku_id,
        pb.StockLeased(lease_id=lease_id, sku_id=sku_id, quantity=granted, leased=leased),
    )
    return StockLease(lease_id, LeaseKind.LEASE, sku_id, uow.line, granted, leased)


async def return_stock(uow: UnitOfWork, *, sku_id: str, quantity: int, lease_id: str) -> StockLease:
    """Give `quantity` back to the buckets. Not more than is leased: the whole call is refused then.
    A SKU no longer listed still takes its units back (groupbuy empties its allotment of it)."""
    first = await _first_answer(uow, LeaseKind.RETURN, sku_id=sku_id, quantity=quantity, lease_id=lease_id)
    if first is not None:
        return first
    if await uow.catalog.move_stock(sku_id, quantity) is None:
        raise no_stock(uow, sku_id)
    leased = await uow.catalog.subtract_from_lease(lease_id, sku_id, quantity)
    if leased is None:
        # Raising rolls the transaction back: the buckets get nothing and the lease id stays unused.
        raise FailedPrecondition(
            f"cannot return {quantity} of {sku_id}: more than is leased",
            reason="RETURN_EXCEEDS_LEASE",
            metadata={"sku_id": sku_id},
        )
    uow.publish(
        INVENTORY_AGGREGATE,
        sku_id,
        pb.StockReturned(lease_id=lease_id, sku_id=sku_id, quantity=quantity, leased=leased),
    )
    return StockLease(lease_id, LeaseKind.RETURN, sku_id, uow.line, quantity, leased)


async def _first_answer(
    uow: UnitOfWork, kind: LeaseKind, *, sku_id: str, quantity: int, lease_id: str
) -> StockLease | None:
    """None when this lease id is new (it is now claimed by this transaction); else the answer its first
    call got, which a retry gets again without changing anything."""
    if await uow.catalog.claim_lease_request(lease_id, kind, sku_id, quantity):
        return None
    first = await uow.catalog.lease_request(lease_id)
    assert first is not None  # the claim failed on this row, and it is never deleted
    if (first.kind, first.sku_id) != (kind, sku_id):
        raise AlreadyExists(
            f"lease id {lease_id} was used for a {first.kind} of {first.sku_id}",
            reason="LEASE_ID_REUSED",
            metadata={"lease_id": lease_id},
        )
    return first
