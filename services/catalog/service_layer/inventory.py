"""Use cases of inventory: stock levels, and reservations that are committed, released or expire.

Reserve is idempotent by order id and all-or-nothing over its items. Stock never goes below zero: the
database refuses it (CHECK available >= 0) and take_stock only takes what a bucket holds.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pingou.catalog.v1 import catalog_pb2 as pb

from libs.core import Aborted, AlreadyExists, FailedPrecondition, NotFound
from libs.jobs import Job, Settled, settle_together
from libs.logs import get_logger
from services.catalog.domain.model import (
    STOCK_BUCKETS,
    Reservation,
    ReservationItem,
    ReservationState,
    StockLevel,
    normalized_items,
)
from services.catalog.service_layer.unit_of_work import INVENTORY_AGGREGATE, UnitOfWork

log = get_logger(__name__)

SKIP_LOCKED_TRIES = 8  # then wait for the held buckets instead of skipping them


class Contended(Exception):
    """Stock is there but held by other transactions right now: the whole reservation is retried."""


def _items_proto(items: Sequence[ReservationItem]) -> list[pb.ReservationItem]:
    return [pb.ReservationItem(sku_id=item.sku_id, quantity=item.quantity) for item in items]


async def set_stock(uow: UnitOfWork, *, sku_id: str, available: int) -> StockLevel:
    """Sets what is free to reserve; units held by reservations or leased to groupbuy are not part of it."""
    if await uow.catalog.sku_with_product(sku_id) is None:
        raise NotFound(f"no SKU {sku_id}", reason="SKU_NOT_FOUND")
    await uow.catalog.set_stock(sku_id, available)
    uow.publish(INVENTORY_AGGREGATE, sku_id, pb.StockSet(sku_id=sku_id, available=available))
    return await get_stock(uow, sku_id)


async def get_stock(uow: UnitOfWork, sku_id: str) -> StockLevel:
    stock = await uow.catalog.stock(sku_id)
    if stock is None:
        raise no_stock(uow, sku_id)
    return stock


def no_stock(uow: UnitOfWork, sku_id: str) -> NotFound:
    return NotFound(f"{sku_id} has no stock on the {uow.line} line", reason="STOCK_NOT_FOUND")


async def require_listed(uow: UnitOfWork, sku_ids: Sequence[str]) -> None:
    """Stock is handed out (reserved, leased) only for SKUs for sale on the line."""
    unlisted = await uow.catalog.unlisted(sku_ids)
    if unlisted:
        raise FailedPrecondition(
            f"not for sale on the {uow.line} line: {', '.join(unlisted)}",
            reason="NOT_LISTED",
            metadata={"sku_id": unlisted[0]},
        )


async def reserve(
    uow: UnitOfWork, *, order_id: str, items: Sequence[ReservationItem], hold: timedelta, wait: bool
) -> Reservation:
    """One attempt, in the caller's unit of work. Raises Contended when another attempt may succeed."""
    wanted = normalized_items(list(items))
    expires_at = datetime.now(UTC) + hold
    await require_listed(uow, [item.sku_id for item in wanted])
    if not await uow.catalog.add_reservation(order_id, wanted, expires_at):
        existing = await uow.catalog.reservation(order_id)
        assert existing is not None
        if existing.items != wanted:
            raise AlreadyExists(f"order {order_id} already reserved other items", reason="RESERVATION_MISMATCH")
        return existing  # a retry of the same reservation: the first result, counted once
    start = random.randrange(STOCK_BUCKETS)
    for item in wanted:
        outcome = await uow.catalog.take_stock(order_id, item, start_bucket=start, wait=wait)
        if outcome == "contended":
            raise Contended(item.sku_id)
        if outcome != "reserved":
            raise FailedPrecondition(
                f"not enough stock of {item.sku_id} for {item.quantity}",
                reason="OUT_OF_STOCK",
                metadata={"sku_id": item.sku_id},
            )
    uow.publish(INVENTORY_AGGREGATE, order_id, pb.StockReserved(order_id=order_id, items=_items_proto(wanted)))
    return Reservation(order_id, uow.line, wanted, ReservationState.RESERVED, expires_at)


async def reserve_stock(
    make_uow: Callable[[], UnitOfWork], *, order_id: str, items: Sequence[ReservationItem], hold: timedelta
) -> Reservation:
    """Reserve, retrying a contended attempt in a fresh transaction; the last tries wait for held
    buckets instead of skipping them, so a busy SKU is never reported out of stock while it has stock."""
    for attempt in range(SKIP_LOCKED_TRIES + 2):
        try:
            async with make_uow() as uow:
                return await reserve(uow, order_id=order_id, items=items, hold=hold, wait=attempt >= SKIP_LOCKED_TRIES)
        except Contended:
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    raise Aborted(f"stock of order {order_id} stayed contended; retry", reason="STOCK_CONTENDED")


async def commit(uow: UnitOfWork, order_id: str) -> Reservation:
    reservation = await _locked(uow, order_id)
    if reservation.state is ReservationState.COMMITTED:
        return reservation
    if reservation.state is ReservationState.RELEASED:
        raise FailedPrecondition(f"the reservation of {order_id} was released", reason="RESERVATION_RELEASED")
    if reservation.expires_at <= datetime.now(UTC):
        # The hold ran out: whether the expiry job got to it yet must not decide a late payment.
        raise FailedPrecondition(f"the hold of {order_id} ran out", reason="RESERVATION_EXPIRED")
    await uow.catalog.settle([order_id], ReservationState.COMMITTED)
    uow.publish(
        INVENTORY_AGGREGATE, order_id, pb.StockCommitted(order_id=order_id, items=_items_proto(reservation.items))
    )
    return _with_state(reservation, ReservationState.COMMITTED)


async def release(uow: UnitOfWork, order_id: str) -> Reservation:
    reservation = await _locked(uow, order_id)
    if reservation.state is ReservationState.RELEASED:
        return reservation
    if reservation.state is ReservationState.COMMITTED:
        raise FailedPrecondition(f"the reservation of {order_id} is committed", reason="RESERVATION_COMMITTED")
    await _give_back(uow, [reservation], expired=False)
    return _with_state(reservation, ReservationState.RELEASED)


async def settle_for_order(
    uow: UnitOfWork, order_id: str, *, to: ReservationState, may_lack_reservation: bool = False
) -> Reservation | None:
    """Catalog's side of an order event: commit the order's reservation once it is paid (or its group
    completed), release it once the order is cancelled or refunded before that. A reservation already
    where the event wants it stays as it is. No hold check here: the order service accepted the payment
    in time, and its event may simply have arrived late.

    `may_lack_reservation`: a group order, whose unit may have come from groupbuy's leased stock rather
    than from a reservation; an order without one is then expected, not a sign of lost stock."""
    reservation = await uow.catalog.reservation(order_id, lock=True)
    if reservation is None:
        report = log.debug if may_lack_reservation else log.warning
        report("order_event_without_reservation", order_id=order_id, line=uow.line.value)
        return None
    if reservation.state is not ReservationState.RESERVED:
        if reservation.state is not to and to is ReservationState.COMMITTED:
            # Released (its hold ran out) before the payment was read: the stock went back on sale, and
            # the order service refunds the order when it reads this.
            log.error("paid_order_reservation_already_released", order_id=order_id, line=uow.line.value)
            uow.publish(
                INVENTORY_AGGREGATE,
                order_id,
                pb.StockCommitFailed(
                    order_id=order_id, items=_items_proto(reservation.items), reason="RESERVATION_RELEASED"
                ),
            )
        return reservation
    if to is ReservationState.COMMITTED:
        await uow.catalog.settle([order_id], ReservationState.COMMITTED)
        uow.publish(
            INVENTORY_AGGREGATE, order_id, pb.StockCommitted(order_id=order_id, items=_items_proto(reservation.items))
        )
    else:
        await _give_back(uow, [reservation], expired=False)
    return _with_state(reservation, to)


async def _give_back(uow: UnitOfWork, reservations: Sequence[Reservation], *, expired: bool) -> None:
    order_ids = [reservation.order_id for reservation in reservations]
    await uow.catalog.give_back(order_ids)
    await uow.catalog.settle(order_ids, ReservationState.RELEASED)
    for reservation in reservations:
        uow.publish(
            INVENTORY_AGGREGATE,
            reservation.order_id,
            pb.StockReleased(order_id=reservation.order_id, items=_items_proto(reservation.items), expired=expired),
        )


RESERVATION_EXPIRY = Job("catalog", "reservation_expiry")


async def release_expired(uow: UnitOfWork, *, batch: int = 100) -> Settled[Reservation]:
    """Release reservations whose hold ran out; safe with any number of workers (SKIP LOCKED keeps
    them on different reservations; one ordered statement gives the whole batch's stock back). A
    reservation that cannot be released (its row refused, its data unreadable) is set aside, and the
    others are released."""
    due = await uow.catalog.claim_due_reservations(job=RESERVATION_EXPIRY.name, limit=batch)

    async def give_back(order_ids: Sequence[str]) -> list[Reservation]:
        reservations = await uow.catalog.reservations(order_ids)
        await _give_back(uow, reservations, expired=True)
        return reservations

    settled = await settle_together(uow, RESERVATION_EXPIRY, due, give_back)
    if settled.done:
        log.info("reservations_expired", count=len(settled.done), line=uow.line.value)
    return settled


async def _locked(uow: UnitOfWork, order_id: str) -> Reservation:
    reservation = await uow.catalog.reservation(order_id, lock=True)
    if reservation is None:
        raise NotFound(f"no reservation for order {order_id}", reason="RESERVATION_NOT_FOUND")
    return reservation


def _with_state(reservation: Reservation, state: ReservationState) -> Reservation:
    return Reservation(reservation.order_id, reservation.line, reservation.items, state, reservation.expires_at)
