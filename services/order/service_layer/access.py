"""Whose order it is: a buyer (the `user` role) reaches only their own orders. And an order that may not
be placed yet: a pingou seat's order is placed from groupbuy's SeatHeld, a few milliseconds after the
join gave the buyer its id, so a call naming it can come first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from libs.core import PermissionDenied
from libs.logs import get_logger
from services.order.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)

PLACEMENT_POLL_SECONDS = 0.02  # how often an order not placed yet is looked for again


async def buyer_of(make_uow: Callable[[], UnitOfWork], order_id: str, *, wait: timedelta) -> str | None:
    """The order's buyer; None when there is no such order, also after looking again for up to `wait`.
    No connection is held between looks."""
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        async with make_uow() as uow:
            buyer = await uow.orders.buyer_of(order_id)
        left = deadline - time.monotonic()
        if buyer is not None or left <= 0:
            return buyer
        await asyncio.sleep(min(PLACEMENT_POLL_SECONDS, left))


def check_buyer(buyer: str | None, order_id: str, subject: str) -> None:
    """PERMISSION_DENIED (logged) unless `subject` bought the order. An order that does not exist is
    refused the same way, so a buyer cannot probe for other buyers' order ids."""
    if buyer != subject:
        log.warning("order_access_denied", subject=subject, order_id=order_id)
        raise PermissionDenied("this order belongs to another buyer", reason="NOT_THE_BUYER")
