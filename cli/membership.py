"""PLUS commands: buy a membership as the payment provider's adapter (`payments`, the caller membership
accepts purchases from once a payment is confirmed), and show one as an operator."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

import grpc
import typer
from pingou.membership.v1 import events_pb2
from pingou.membership.v1 import membership_pb2 as pb
from pingou.membership.v1 import membership_pb2_grpc as pb_grpc

from cli import output
from cli.connection import PAYMENTS, session_of, user_line_or
from libs.core.orders import CURRENCY

plus = typer.Typer(help="PLUS membership: buy (as the payment provider), show.", no_args_is_help=True)


class Plan(StrEnum):
    TRIAL = "trial"
    MONTHLY = "monthly"
    ANNUAL = "annual"


def membership(channel: grpc.aio.Channel) -> pb_grpc.MembershipServiceStub:
    return pb_grpc.MembershipServiceStub(channel)


def render_membership(member: pb.Membership) -> output.Rendered:
    return [
        output.details(
            "PLUS",
            [
                ("user", member.user_id),
                ("state", output.label(pb.MembershipState.DESCRIPTOR, member.state)),
                ("plan", output.label(events_pb2.Plan.DESCRIPTOR, member.plan)),
                ("since", output.moment(member.started_at)),
                ("until", output.moment(member.expires_at)),
                ("auto-renew", output.yes(member.auto_renew) or "no"),
            ],
        )
    ]


@plus.command("buy")
def buy(
    context: typer.Context,
    user_id: Annotated[str, typer.Argument(metavar="USER")],
    plan: Annotated[Plan, typer.Option(help="a trial is free, once per person")] = Plan.TRIAL,
    paid: Annotated[
        int, typer.Option(parser=output.fen, metavar="YUAN", help="what the provider took: the plan's price")
    ] = 0,
    reference: Annotated[str, typer.Option(help="the payment's reference; a retry with it gets the first answer")] = "",
    auto_renew: Annotated[bool, typer.Option(help="not for a trial")] = False,
) -> None:
    """Start a PLUS membership after a confirmed payment (as the payment provider's adapter)."""
    session = session_of(context)
    request = pb.PurchaseRequest(
        user_id=user_id,
        plan=events_pb2.Plan.Value(f"PLAN_{plan.name}"),
        payment_reference=reference or f"cli-{uuid.uuid4().hex}",
        amount_paid_minor=paid,
        currency=CURRENCY,
        auto_renew=auto_renew,
    )
    speaker = session.outside_service(PAYMENTS, user_line_or(user_id, session.line))
    member: pb.Membership = session.call(
        "membership", speaker, lambda channel: membership(channel).Purchase(request), retry=True
    )
    output.emit(session, member, render_membership)


@plus.command("show")
def show(context: typer.Context, user_id: Annotated[str, typer.Argument(metavar="USER")]) -> None:
    """A user's PLUS membership."""
    session = session_of(context)
    request = pb.GetMembershipRequest(user_id=user_id)
    member: pb.Membership = session.call(
        "membership",
        session.operator(user_line_or(user_id, session.line)),
        lambda channel: membership(channel).GetMembership(request),
        retry=True,
    )
    output.emit(session, member, render_membership)
