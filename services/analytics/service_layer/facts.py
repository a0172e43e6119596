"""Recording events as facts. Each call runs in the idempotent consumer's transaction, with the events of a
polled batch that were new to its inbox (a redelivered event is skipped before it gets here); each fact is
also keyed by what it is about (an order, a group, a seat, a payment reference), so a second copy of an
event under another id adds nothing either. Facts are order-independent: a batch's facts are written kind
by kind, one statement each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from libs.core import BusinessLine, InvalidArgument, user_line
from services.analytics.domain.facts import (
    Fact,
    GroupOpened,
    GroupOutcome,
    LinksChanged,
    MembershipSale,
    Payment,
    PlacedOrder,
    Refund,
    SeatTaken,
    users_of,
)
from services.analytics.service_layer.ports import Facts

F = TypeVar("F")


def _of(kind: type[F], facts: Sequence[Fact]) -> list[F]:
    return [fact for fact in facts if isinstance(fact, kind)]


async def record(facts: Facts, batch: Sequence[Fact], *, line: BusinessLine) -> None:
    """Adds the facts of a batch of `line`'s events. An event naming an account of the other line fails the
    batch (the consumer then applies its events one by one, and dead-letters that one): a line's facts hold
    its own users only. A repeated group outcome, or a seat taken without an invite, adds nothing."""
    for fact in batch:
        for user_id in users_of(fact):
            if user_line(user_id) is not line:
                raise InvalidArgument(f"a {line} event names {user_id}, an account of the other line")
    if placed := _of(PlacedOrder, batch):
        await facts.add_placed_orders(placed)
    if payments := _of(Payment, batch):
        await facts.add_payments(payments)
    if refunds := _of(Refund, batch):
        await facts.add_refunds(refunds)
    if opened := _of(GroupOpened, batch):
        await facts.add_groups_opened(opened)
    if outcomes := [outcome for outcome in _of(GroupOutcome, batch) if not outcome.reannounced]:
        await facts.add_group_outcomes(outcomes)
    if invites := [seat for seat in _of(SeatTaken, batch) if seat.inviter_user_id is not None]:
        await facts.add_invites(invites)
    if sales := _of(MembershipSale, batch):
        await facts.add_membership_sales(sales)
    if changed := _of(LinksChanged, batch):
        await facts.want_link_lookups([fact.user_id for fact in changed])
