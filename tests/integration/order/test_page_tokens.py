"""ListUserOrders' and ListOrdersByState's page tokens are signed and range-checked: a forged, tampered or
borrowed token is INVALID_ARGUMENT (INVALID_PAGE_TOKEN, naming page_token) and never reaches the
database (a year-9999 moment at -14:00 once overflowed it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pingou.order.v1 import order_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from libs.core.paging import PageTokens
from services.order.bootstrap import NAME
from services.order.domain.model import OrderKind, OrderState, new_refund_id
from services.order.entrypoints.mapping import ORDERS_PAGE, orders_in_state_scope, user_orders_scope
from tests.integration.order.conftest import Shop
from tests.support.page_tokens import another_key, random_token, refused_as_bad_page_token, tampered, unsigned

pytestmark = pytest.mark.infra
MALL = BusinessLine.MALL
LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14)))  # after year 9999 in UTC
FORGERIES = [
    "unsigned, year 9999 at -14:00",
    "random bytes",
    "tampered",
    "another listing's",
    "another service's",
    "another key's",
    "signed, year 9999 at -14:00",
    "signed, before 1970",
    "signed, a refund id",
]


@dataclass(frozen=True)
class Listings:
    buyer: str
    other: str  # another buyer of the line, with orders of their own
    order_id: str  # the older of the buyer's two


@pytest.fixture(scope="module")
async def listings(shop: Shop) -> Listings:
    sku = await shop.new_sku(MALL, stock=50)
    buyer, other = await shop.register(MALL), await shop.register(MALL)
    placed = [await shop.place_mall(user, [(sku, 1)]) for user in (buyer, buyer, other, other)]
    return Listings(buyer, other, placed[0].order_id)


def _user_orders(user_id: str, token: str = "") -> pb.ListUserOrdersRequest:
    return pb.ListUserOrdersRequest(user_id=user_id, page_size=1, page_token=token)


def _pending(token: str = "") -> pb.ListOrdersByStateRequest:
    return pb.ListOrdersByStateRequest(
        state=pb.ORDER_STATE_PENDING_PAYMENT, kind=pb.ORDER_KIND_MALL, page_size=1, page_token=token
    )


PENDING_SCOPE = orders_in_state_scope(MALL, OrderState.PENDING_PAYMENT, OrderKind.MALL)


def _forged(forgery: str, *, key: Path, scope: str, valid: str, borrowed: str, order_id: str) -> str:
    ours = PageTokens.from_file(key, service=NAME)
    now = datetime.now(UTC)
    return {
        "unsigned, year 9999 at -14:00": unsigned([LATE.isoformat(), order_id], scope=scope),
        "random bytes": random_token(),
        "tampered": tampered(valid),
        "another listing's": borrowed,
        "another service's": PageTokens.from_file(key, service="groupbuy").encode(
            ORDERS_PAGE, (now, order_id), scope=scope
        ),
        "another key's": another_key(NAME).encode(ORDERS_PAGE, (now, order_id), scope=scope),
        "signed, year 9999 at -14:00": ours.encode(ORDERS_PAGE, (LATE, order_id), scope=scope),
        "signed, before 1970": ours.encode(ORDERS_PAGE, (datetime(1969, 7, 20, tzinfo=UTC), order_id), scope=scope),
        "signed, a refund id": ours.encode(ORDERS_PAGE, (now, new_refund_id(MALL)), scope=scope),
    }[forgery]


async def test_the_servers_tokens_are_the_ones_these_tests_sign(
    shop: Shop, listings: Listings, page_token_key: Path
) -> None:
    ours = PageTokens.from_file(page_token_key, service=NAME)
    metadata = shop.as_user(listings.buyer)
    first = await shop.orders.ListUserOrders(_user_orders(listings.buyer), metadata=metadata)
    created_at, order_id = ours.decode(ORDERS_PAGE, first.next_page_token, scope=user_orders_scope(listings.buyer))
    assert order_id == first.orders[0].order_id
    again = ours.encode(ORDERS_PAGE, (created_at, order_id), scope=user_orders_scope(listings.buyer))
    rest = await shop.orders.ListUserOrders(_user_orders(listings.buyer, again), metadata=metadata)
    assert [order.order_id for order in rest.orders] == [listings.order_id]  # the buyer's older order
    operator = shop.token(MALL, Role.OPERATOR, subject="ops")
    pending = await shop.orders.ListOrdersByState(_pending(), metadata=operator)
    assert ours.decode(ORDERS_PAGE, pending.next_page_token, scope=PENDING_SCOPE)[1] == pending.orders[0].order_id


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_user_orders_page_token_is_invalid_argument(
    shop: Shop, listings: Listings, page_token_key: Path, forgery: str
) -> None:
    metadata = shop.service(MALL)
    first = await shop.orders.ListUserOrders(_user_orders(listings.buyer), metadata=metadata)
    others = await shop.orders.ListUserOrders(_user_orders(listings.other), metadata=metadata)
    token = _forged(
        forgery,
        key=page_token_key,
        scope=user_orders_scope(listings.buyer),
        valid=first.next_page_token,
        borrowed=others.next_page_token,
        order_id=listings.order_id,
    )
    await refused_as_bad_page_token(shop.orders.ListUserOrders(_user_orders(listings.buyer, token), metadata=metadata))


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_orders_by_state_page_token_is_invalid_argument(
    shop: Shop, listings: Listings, page_token_key: Path, forgery: str
) -> None:
    operator = shop.token(MALL, Role.OPERATOR, subject="ops")
    first = await shop.orders.ListOrdersByState(_pending(), metadata=operator)
    users = await shop.orders.ListUserOrders(_user_orders(listings.buyer), metadata=shop.service(MALL))
    token = _forged(
        forgery,
        key=page_token_key,
        scope=PENDING_SCOPE,
        valid=first.next_page_token,
        borrowed=users.next_page_token,
        order_id=listings.order_id,
    )
    await refused_as_bad_page_token(shop.orders.ListOrdersByState(_pending(token), metadata=operator))
