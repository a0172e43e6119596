"""Group commands (pingou): open, join and auto-match as the buyer (`--as pu_…`: a token of that user, so
groupbuy's own checks apply to them), and show or list groups as an operator."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import grpc
import typer
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.groupbuy.v1 import groupbuy_pb2_grpc as pb_grpc
from rich.table import Table

from cli import output
from cli.choices import Channel
from cli.connection import session_of
from cli.orders import orders_table
from libs.core import BusinessLine

groups = typer.Typer(help="Groups of the pingou line: open, join, auto-match, show, list.", no_args_is_help=True)

Buyer = Annotated[str, typer.Option("--as", help="the buyer's pingou user id (pu_…)")]
City = Annotated[str, typer.Option("--city", help="the shipping city")]
ChannelOption = Annotated[Channel, typer.Option("--channel", help="where the buyer orders from")]
Key = Annotated[str, typer.Option("--key", help="idempotency key: a retry with it gets the first answer")]


def groupbuy(channel: grpc.aio.Channel) -> pb_grpc.GroupbuyServiceStub:
    return pb_grpc.GroupbuyServiceStub(channel)


def buyer(user_id: str, city: str, channel: Channel, key: str) -> pb.Buyer:
    return pb.Buyer(
        user_id=user_id, shipping_city=city, channel=channel.for_orders(), idempotency_key=key or uuid.uuid4().hex
    )


def group_state(group: pb.Group) -> str:
    return output.label(pb.GroupState.DESCRIPTOR, group.state)


def render_group(group: pb.Group) -> Table:
    terms = [
        "new users only" if group.new_user_only else "",
        "PLUS only" if group.plus_only else "",
        "strangers may join" if group.strangers_can_join else "",
    ]
    return output.details(
        "group",
        [
            ("group", group.group_id),
            ("sku", group.sku_id),
            ("state", group_state(group)),
            ("seats", f"{group.seats_taken} taken, {group.seats_paid} paid of {group.size}"),
            ("leader", group.leader_user_id),
            ("group price", output.money(group.group_price_minor)),
            ("leader pays", output.money(group.leader_price_minor)),
            ("share code", group.share_code),
            ("terms", ", ".join(filter(None, terms))),
            ("opened", output.moment(group.opened_at)),
            ("expires", output.moment(group.expires_at)),
            ("closed", output.moment(group.closed_at)),
            ("flagged", "every member is one person" if group.flagged else ""),
        ],
    )


def seats_table(seats: list[pb.Seat]) -> Table:
    rows = output.table("seats", "seat", "user", "leader", "state", "invite code", "invited by", "order", "pay by")
    for seat in seats:
        rows.add_row(
            seat.seat_id,
            seat.user_id,
            output.yes(seat.leader),
            output.label(pb.SeatState.DESCRIPTOR, seat.state),
            seat.invite_code,
            seat.inviter_user_id,
            seat.order_id,
            output.moment(seat.pay_by),
        )
    return rows


def render_seat(result: pb.SeatResult) -> output.Rendered:
    return [render_group(result.group), seats_table([result.seat]), orders_table("the order to pay", [result.order])]


Stub = pb_grpc.GroupbuyServiceStub


def take_seat(context: typer.Context, user_id: str, invoke: Callable[[Stub], Awaitable[pb.SeatResult]]) -> None:
    session = session_of(context)
    result: pb.SeatResult = session.call(
        "groupbuy",
        session.buyer(user_id),
        lambda channel: invoke(groupbuy(channel)),
        retry=True,  # the buyer's idempotency key makes a second send answer the first
    )
    output.emit(session, result, render_seat)


@groups.command("open")
def open_group(
    context: typer.Context,
    user_id: Buyer,
    sku: Annotated[str, typer.Option(help="the pingou-listed SKU")],
    city: City = "临沂",
    channel: ChannelOption = Channel.WECHAT_MINI_PROGRAM,
    key: Key = "",
) -> None:
    """Open a group of a SKU; the buyer leads it and holds its first seat."""
    request = pb.OpenGroupRequest(buyer=buyer(user_id, city, channel, key), sku_id=sku)
    take_seat(context, user_id, lambda stub: stub.OpenGroup(request))


@groups.command("join")
def join_group(
    context: typer.Context,
    user_id: Buyer,
    group: Annotated[str, typer.Option(help="the group's id")] = "",
    invite: Annotated[str, typer.Option(help="an invite code (records who invited the buyer)")] = "",
    city: City = "临沂",
    channel: ChannelOption = Channel.WECHAT_MINI_PROGRAM,
    key: Key = "",
) -> None:
    """Join a group by its id or by an invite code."""
    if bool(group) == bool(invite):
        raise typer.BadParameter("give one of --group and --invite", param_hint="--group / --invite")
    request = pb.JoinGroupRequest(buyer=buyer(user_id, city, channel, key))
    if group:
        request.group_id = group
    else:
        request.invite_code = invite
    take_seat(context, user_id, lambda stub: stub.JoinGroup(request))


@groups.command("auto-match")
def auto_match(
    context: typer.Context,
    user_id: Buyer,
    sku: Annotated[str, typer.Option(help="the pingou-listed SKU")],
    city: City = "临沂",
    channel: ChannelOption = Channel.WECHAT_MINI_PROGRAM,
    key: Key = "",
) -> None:
    """Put the buyer into the SKU's open group nearest to completion, or open one."""
    request = pb.AutoMatchRequest(buyer=buyer(user_id, city, channel, key), sku_id=sku)
    take_seat(context, user_id, lambda stub: stub.AutoMatch(request))


@groups.command("show")
def show_group(context: typer.Context, group_id: Annotated[str, typer.Argument(metavar="GROUP")]) -> None:
    """A group and its seats."""
    session = session_of(context)
    request = pb.GetGroupRequest(group_id=group_id)
    group: pb.Group = session.call(
        "groupbuy",
        session.operator(BusinessLine.PINGOU),
        lambda channel: groupbuy(channel).GetGroup(request),
        retry=True,
    )
    output.emit(session, group, lambda group: [render_group(group), seats_table(list(group.seats))])


@groups.command("list")
def list_groups(
    context: typer.Context,
    sku: Annotated[str, typer.Option(help="the open groups of this SKU that strangers may join")] = "",
    user: Annotated[str, typer.Option(help="the groups this user is or was in, newest first")] = "",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    page_token: str = "",
) -> None:
    """The open groups of a SKU (nearest to completion first), or a user's groups."""
    if bool(sku) == bool(user):
        raise typer.BadParameter("give one of --sku and --user", param_hint="--sku / --user")
    session = session_of(context)

    async def invoke(stub: Stub) -> pb.ListGroupsResponse:
        found: pb.ListGroupsResponse
        if sku:
            found = await stub.ListOpenGroups(
                pb.ListOpenGroupsRequest(sku_id=sku, page_size=limit, page_token=page_token)
            )
        else:
            found = await stub.ListUserGroups(
                pb.ListUserGroupsRequest(user_id=user, page_size=limit, page_token=page_token)
            )
        return found

    reply: pb.ListGroupsResponse = session.call(
        "groupbuy", session.operator(BusinessLine.PINGOU), lambda channel: invoke(groupbuy(channel)), retry=True
    )

    def render(reply: pb.ListGroupsResponse) -> output.Rendered:
        rows = output.table(
            f"open groups of {sku}" if sku else f"groups of {user}",
            "group",
            "sku",
            "state",
            "seats",
            "group price",
            "leader",
            "share code",
            "expires",
        )
        for group in reply.groups:
            rows.add_row(
                group.group_id,
                group.sku_id,
                group_state(group),
                f"{group.seats_taken}/{group.size} ({group.seats_paid} paid)",
                output.money(group.group_price_minor),
                group.leader_user_id,
                group.share_code,
                output.moment(group.expires_at),
            )
        return [rows, output.next_page(reply.next_page_token)]

    output.emit(session, reply, render)
