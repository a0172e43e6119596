"""The answers idempotency keys and payment references replay are stored as the API's order message; read
back, each is the order it answered, apart from the fields the message does not carry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.order.domain.model import (
    CancelReason,
    Channel,
    Order,
    OrderItem,
    OrderKind,
    OrderState,
    Refund,
    RefundReason,
    RefundState,
)
from services.order.service_layer.announcements import answer_of, order_from_answer, order_to_proto

TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20)  # UTF-8 encodable
MOMENTS = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
AMOUNTS = st.integers(0, 10**12)

ITEMS = st.builds(
    OrderItem,
    sku_id=TEXT,
    quantity=st.integers(1, 999),
    unit_price_minor=AMOUNTS,
    list_price_minor=AMOUNTS,
    plus_price=st.booleans(),
)
REFUNDS = st.builds(
    Refund,
    refund_id=TEXT,
    order_id=TEXT,
    reason=st.sampled_from(RefundReason),
    state=st.sampled_from(RefundState),
    amount_minor=AMOUNTS,
    currency=st.just("CNY"),
    payment_reference=TEXT,
    attempts=st.integers(0, 10**6),
    requested_at=MOMENTS,
    updated_at=MOMENTS,
    provider_reference=st.none() | TEXT,
    last_error=st.none() | TEXT,
)
ORDERS = st.builds(
    Order,
    order_id=TEXT,
    user_id=TEXT,
    kind=st.sampled_from(OrderKind),
    state=st.sampled_from(OrderState),
    items=st.lists(ITEMS, min_size=1, max_size=3).map(tuple),
    total_minor=AMOUNTS,
    currency=st.just("CNY"),
    channel=st.sampled_from(Channel),
    shipping_city=TEXT,
    pay_by=MOMENTS,
    created_at=MOMENTS,
    updated_at=MOMENTS,
    group_id=st.none() | TEXT,
    seat_id=st.none() | TEXT,
    group_leader=st.booleans(),
    group_expires_at=st.none() | MOMENTS,
    payment_reference=st.none() | TEXT,
    paid_at=st.none() | MOMENTS,
    cancel_reason=st.none() | st.sampled_from(CancelReason),
    tracking_number=st.none() | TEXT,
    refunds=st.lists(REFUNDS, max_size=2).map(tuple),
)


@given(ORDERS)
def test_a_stored_answer_reads_back_as_the_order_it_answered(order: Order) -> None:
    read_back = order_from_answer(answer_of(order))

    # What the message does not carry comes back unset; everything else is the order itself.
    shown = replace(
        order,
        group_expires_at=None,
        tracking_number=None,
        refunds=tuple(replace(refund, payment_reference="", last_error=None) for refund in order.refunds),
    )
    assert read_back == shown
    assert order_to_proto(read_back) == order_to_proto(order)  # a replay answers what the first call did
