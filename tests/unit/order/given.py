"""Orders in the states the unit tests start from, brought there by the use cases themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.order.domain.model import Channel, MallPrice, Order, payment_intent_id
from services.order.service_layer import orders
from services.order.service_layer.orders import PlaceGroupOrder, PlaceMallOrder
from services.order.service_layer.payments import PaymentConfirmation, confirm_payment
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.transitions import get_order
from tests.unit.order.fakes import FakeCatalog, FakeMembership, FakeUnitOfWork

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
POLICY = OrderPolicy()
BUYER, PINGOU_BUYER = "mu_1001", "pu_2001"
TEA, RICE = "sku-tea", "sku-rice"
PRICES = {TEA: MallPrice(5000, 0), RICE: MallPrice(3000, 2500)}  # rice has a PLUS price
GROUP = "g-caoxian-1"


def mall_command(key: str = "k-1", items: tuple[tuple[str, int], ...] = ((TEA, 2),)) -> PlaceMallOrder:
    return PlaceMallOrder(key, BUYER, items, "杭州", Channel.MALL_APP)


def group_command(
    seat: str = "seat-1", *, user: str = PINGOU_BUYER, price: int = 1590, leader: bool = False
) -> PlaceGroupOrder:
    return PlaceGroupOrder(
        idempotency_key=seat,
        user_id=user,
        sku_id="sku-hanfu",
        group_id=GROUP,
        seat_id=seat,
        group_leader=leader,
        unit_price_minor=price,
        shipping_city="菏泽",
        channel=Channel.WECHAT_MINI_PROGRAM,
        pay_by=NOW + timedelta(minutes=15),
        group_expires_at=NOW + timedelta(hours=24),
    )


async def mall_order(uow: FakeUnitOfWork, key: str = "k-1", *, now: datetime = NOW) -> Order:
    placed = await orders.place_mall_order(
        uow, FakeCatalog(PRICES), FakeMembership(), mall_command(key), digest=key.encode(), policy=POLICY, now=now
    )
    return await read(uow, placed.order_id)


async def group_order(uow: FakeUnitOfWork, seat: str = "seat-1", *, price: int = 1590, leader: bool = False) -> Order:
    placed = await orders.place_group_order(
        uow,
        FakeCatalog(),
        group_command(seat, price=price, leader=leader),
        digest=seat.encode(),
        policy=POLICY,
        now=NOW,
    )
    return await read(uow, placed.order_id)


def payment_of(order: Order, reference: str = "pay-1", *, paid_at: datetime = NOW) -> PaymentConfirmation:
    """The provider's confirmation of exactly what the order asks for."""
    return PaymentConfirmation(
        order.order_id, payment_intent_id(order.order_id), reference, order.total_minor, order.currency, paid_at
    )


async def paid(uow: FakeUnitOfWork, order: Order, reference: str = "pay-1") -> Order:
    await confirm_payment(uow, payment_of(order, reference), policy=POLICY, now=NOW)
    return await read(uow, order.order_id)


async def read(uow: FakeUnitOfWork, order_id: str) -> Order:
    async with uow:
        return await get_order(uow, order_id)
