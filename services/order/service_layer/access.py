"""Whose order it is: a buyer (the `user` role) reaches only their own orders."""

from __future__ import annotations

from collections.abc import Callable

from libs.core import PermissionDenied
from libs.logs import get_logger
from services.order.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


async def check_buyer(make_uow: Callable[[], UnitOfWork], order_id: str, subject: str) -> None:
    """PERMISSION_DENIED (logged) unless `subject` bought the order. An order that does not exist is
    refused the same way, so a buyer cannot probe for other buyers' order ids."""
    async with make_uow() as uow:
        order = await uow.orders.order(order_id)
    if order is None or order.user_id != subject:
        log.warning("order_access_denied", subject=subject, order_id=order_id)
        raise PermissionDenied("this order belongs to another buyer", reason="NOT_THE_BUYER")
