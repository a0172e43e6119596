"""A seat's order read from groupbuy's SeatHeld, without infrastructure: what the event says becomes the
order's terms, and an event that would make a wrong order is refused before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.order.v1 import order_pb2 as pb

from libs.convert import timestamp
from libs.core import BusinessLine, InvalidArgument
from services.order.domain.model import Channel, order_id_for
from services.order.entrypoints.consumers import seat_order
from services.order.service_layer.orders import place_seat_order
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
BUYER = "pu_42"


def _held(**fields: Any) -> groupbuy_events.SeatHeld:
    values: dict[str, Any] = {
        "group_id": "g-1",
        "user_id": BUYER,
        "held_at": timestamp(NOW),
        "seat_id": "seat-1",
        "sku_id": "sku-1",
        "pay_by": timestamp(NOW + timedelta(minutes=15)),
        "order_id": order_id_for(BusinessLine.PINGOU, BUYER, "seat-1"),
        "unit_price_minor": 1590,
        "shipping_city": " 菏泽 ",
        "channel": pb.CHANNEL_WECHAT_MINI_PROGRAM,
        "group_expires_at": timestamp(NOW + timedelta(hours=24)),
    }
    return groupbuy_events.SeatHeld(**(values | fields))


class _Untouched:
    """A unit of work that must not be used: the event is refused before anything is read or written."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the unit of work was used ({name})")


def test_the_seat_held_gives_the_orders_terms_keyed_by_the_seat() -> None:
    command = seat_order(_held())

    assert (command.idempotency_key, command.seat_id, command.group_id, command.user_id) == (
        "seat-1",
        "seat-1",
        "g-1",
        BUYER,
    )
    assert (command.sku_id, command.unit_price_minor, command.group_leader) == ("sku-1", 1590, False)
    assert (command.shipping_city, command.channel) == ("菏泽", Channel.WECHAT_MINI_PROGRAM)
    assert (command.pay_by, command.group_expires_at) == (NOW + timedelta(minutes=15), NOW + timedelta(hours=24))


def test_a_group_end_missing_or_before_the_seats_pay_by_is_taken_as_the_pay_by() -> None:
    pay_by = NOW + timedelta(minutes=15)
    assert seat_order(_held(group_expires_at=None)).group_expires_at == pay_by
    assert seat_order(_held(group_expires_at=timestamp(NOW))).group_expires_at == pay_by


@pytest.mark.parametrize(
    "fields",
    [
        {"channel": pb.CHANNEL_UNSPECIFIED},
        {"pay_by": None},
        {"held_at": None},
        {"sku_id": ""},
        {"seat_id": ""},
    ],
    ids=["no channel", "no pay_by", "no held_at", "no sku", "no seat"],
)
def test_a_seat_held_missing_what_the_order_needs_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        seat_order(_held(**fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"order_id": order_id_for(BusinessLine.PINGOU, BUYER, "seat-2")},
        {"order_id": order_id_for(BusinessLine.MALL, BUYER, "seat-1")},
        {"unit_price_minor": 0},  # free, but not the leader
        {"unit_price_minor": -1},
    ],
    ids=["another seat's id", "a mall id", "free non-leader", "negative price"],
)
async def test_a_seat_held_that_would_make_a_wrong_order_writes_nothing(fields: dict[str, Any]) -> None:
    held = _held(**fields)

    with pytest.raises(InvalidArgument):
        await place_seat_order(
            cast(UnitOfWork, _Untouched()),
            seat_order(held),
            order_id=held.order_id,
            held_at=NOW,
            policy=OrderPolicy(),
            now=NOW,
        )
