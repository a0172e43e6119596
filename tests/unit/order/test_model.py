"""The order domain without infrastructure: the state machine, prices, ids, payment outcomes, back-off."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from libs.core import BusinessLine, FailedPrecondition, InvalidArgument
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from libs.core.paging import PageTokens
from services.order.domain.model import (
    TRANSITIONS,
    Channel,
    MallPrice,
    Order,
    OrderItem,
    OrderKind,
    OrderState,
    check_transition,
    line_of,
    new_refund_id,
    order_id_for,
    price_mall_items,
    refund_backoff,
)
from services.order.entrypoints.mapping import ORDERS_PAGE, orders_in_state_scope, user_orders_scope
from services.order.service_layer.payments import PaymentConfirmation, payment_outcome

S = OrderState
NOW = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)


def test_every_path_of_the_state_machine_ends_in_delivered_cancelled_or_refunded() -> None:
    finals = {state for state, targets in TRANSITIONS.items() if not targets}
    assert finals == {S.CANCELLED, S.REFUNDED}
    # Everything reachable from PENDING_PAYMENT, and nothing goes back to it.
    reachable, frontier = {S.PENDING_PAYMENT}, [S.PENDING_PAYMENT]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(OrderState)
    assert all(S.PENDING_PAYMENT not in targets for targets in TRANSITIONS.values())


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.PENDING_PAYMENT, S.SHIPPED), (S.CANCELLED, S.PAID), (S.AWAITING_GROUP, S.SHIPPED), (S.REFUNDED, S.REFUNDING)],
)
def test_a_move_the_state_machine_does_not_have_is_refused_with_the_current_state(
    current: OrderState, target: OrderState
) -> None:
    with pytest.raises(FailedPrecondition) as refused:
        check_transition(current, target, order_id="mo_x")
    assert refused.value.reason == "INVALID_ORDER_STATE"
    assert refused.value.metadata["state"] == current.value.upper()


def test_plus_members_pay_the_plus_price_only_where_a_listing_has_one() -> None:
    prices = {"a": MallPrice(5990, 4990), "b": MallPrice(1200, 0)}
    member = price_mall_items([("a", 2), ("b", 1)], prices, plus_member=True)
    assert [(i.unit_price_minor, i.plus_price, i.amount_minor) for i in member] == [
        (4990, True, 9980),
        (1200, False, 1200),
    ]
    other = price_mall_items([("a", 1)], prices, plus_member=False)
    assert (other[0].unit_price_minor, other[0].plus_price) == (5990, False)


def test_a_sku_without_a_mall_listing_cannot_be_priced() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        price_mall_items([("a", 1), ("gone", 1)], {"a": MallPrice(100, 0)}, plus_member=False)
    assert (refused.value.reason, refused.value.metadata) == ("NOT_LISTED", {"sku_id": "gone"})


def test_an_order_id_is_the_same_for_the_same_buyer_and_key_and_carries_its_line() -> None:
    one = order_id_for(BusinessLine.MALL, "mu_7", "key-1")
    assert one == order_id_for(BusinessLine.MALL, "mu_7", "key-1")
    assert one != order_id_for(BusinessLine.MALL, "mu_8", "key-1")
    assert one != order_id_for(BusinessLine.MALL, "mu_7", "key-2")
    assert line_of(one, field="order_id") is BusinessLine.MALL
    assert line_of(order_id_for(BusinessLine.PINGOU, "pu_7", "k"), field="order_id") is BusinessLine.PINGOU
    assert line_of(new_refund_id(BusinessLine.PINGOU), field="refund_id") is BusinessLine.PINGOU


@pytest.mark.parametrize("bad", ["", "mo_", "mo_short", "xo_" + "a" * 26, "mo_" + "A" * 26, "mo_" + "a" * 27])
def test_anything_else_is_not_an_order_id(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        line_of(bad, field="order_id")


def test_refund_attempts_back_off_by_doubling_up_to_an_hour() -> None:
    base = timedelta(seconds=30)
    assert [refund_backoff(n, base=base).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert refund_backoff(20, base=base) == timedelta(hours=1)


def _order(state: OrderState = S.PENDING_PAYMENT) -> Order:
    return Order(
        order_id=order_id_for(BusinessLine.MALL, "mu_1", "k"),
        user_id="mu_1",
        kind=OrderKind.MALL,
        state=state,
        items=(OrderItem("a", 1, 2500, 2500),),
        total_minor=2500,
        currency="CNY",
        channel=Channel.MALL_APP,
        shipping_city="临沂",
        pay_by=NOW,
        created_at=NOW - timedelta(minutes=15),
        updated_at=NOW - timedelta(minutes=15),
    )


def _payment(order: Order, **changes: object) -> PaymentConfirmation:
    payment = PaymentConfirmation(order.order_id, order.intent_id, "wx-1", order.total_minor, "CNY", NOW)
    return replace(payment, **changes)  # type: ignore[arg-type]  # test values of the right field types


def test_a_payment_is_judged_by_intent_currency_amount_and_the_providers_clock() -> None:
    order = _order()

    def outcome(payment: PaymentConfirmation, *, of: Order = order, received: datetime = NOW) -> str:
        return payment_outcome(of, payment, now=received)

    assert outcome(_payment(order)) == "accepted"  # paid at the last moment: in time
    # Paid in time and confirmed late counts, up to the grace every payment timer waits out.
    assert outcome(_payment(order), received=NOW + timedelta(minutes=2)) == "accepted"
    assert outcome(_payment(order), received=NOW + PAYMENT_CONFIRMATION_GRACE) == "accepted"
    assert outcome(_payment(order), received=NOW + PAYMENT_CONFIRMATION_GRACE + timedelta(microseconds=1)) == "late"
    assert outcome(_payment(order), received=NOW + timedelta(minutes=3)) == "late"
    assert outcome(_payment(order, paid_at=NOW + timedelta(seconds=1))) == "late"
    assert outcome(_payment(order, amount_minor=2499)) == "amount_mismatch"
    assert outcome(_payment(order, currency="USD")) == "currency_mismatch"
    assert outcome(_payment(order, intent_id="pi_other")) == "intent_mismatch"
    assert outcome(_payment(order), of=_order(S.CANCELLED)) == "late"
    assert outcome(_payment(order), of=_order(S.PAID)) == "duplicate"


def test_a_page_token_only_works_for_the_listing_it_came_from() -> None:
    tokens = PageTokens([b"k" * 32], service="order")
    order_id = order_id_for(BusinessLine.MALL, "mu_1", "k-1")
    position = (datetime(2026, 6, 18, 12, 0, 0, 123456, tzinfo=UTC), order_id)
    token = tokens.encode(ORDERS_PAGE, position, scope=user_orders_scope("mu_1"))
    assert tokens.decode(ORDERS_PAGE, token, scope=user_orders_scope("mu_1")) == position
    for scope in (user_orders_scope("mu_2"), orders_in_state_scope(BusinessLine.MALL, OrderState.PAID, None)):
        with pytest.raises(InvalidArgument) as refused:
            tokens.decode(ORDERS_PAGE, token, scope=scope)
        assert refused.value.reason == "INVALID_PAGE_TOKEN"
    refund = (position[0], new_refund_id(BusinessLine.MALL))  # an id, but not an order's
    with pytest.raises(InvalidArgument):
        tokens.decode(ORDERS_PAGE, tokens.encode(ORDERS_PAGE, refund, scope="user:mu_1"), scope="user:mu_1")
    with pytest.raises(InvalidArgument):
        tokens.decode(ORDERS_PAGE, "%%%not-base64", scope="user:mu_1")
