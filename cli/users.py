"""User commands: register an account on the chosen line as the account system (`accounts`, the caller the
registry accepts registrations from), and show a user or the segments they are in as an operator."""

from __future__ import annotations

from typing import Annotated

import grpc
import typer
from pingou.segmentation.v1 import segmentation_pb2 as pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as pb_grpc

from cli import output
from cli.choices import Channel
from cli.connection import ACCOUNTS, session_of, user_line_or
from libs.convert import LINE_FROM_PROTO

users = typer.Typer(help="Accounts of each line: register, show, their segments.", no_args_is_help=True)


def segmentation(channel: grpc.aio.Channel) -> pb_grpc.SegmentationServiceStub:
    return pb_grpc.SegmentationServiceStub(channel)


def tier(user: pb.User) -> str:
    return f"{user.city_tier}" if user.city_known else f"{user.city_tier} (city not in the tier table)"


def render_user(user: pb.User) -> output.Rendered:
    profile = user.profile
    return [
        output.details(
            "user",
            [
                ("user", user.user_id),
                ("line", str(LINE_FROM_PROTO.get(user.line, ""))),
                ("city", user.city),
                ("city tier", tier(user)),
                ("channel", output.label(pb.Channel.DESCRIPTOR, user.channel)),
                ("registered", output.moment(user.registered_at)),
                ("first order", output.moment(profile.first_order_at)),
                ("orders", profile.order_count),
                ("spend", output.money(profile.spend_minor)),
                ("PLUS", f"until {output.moment(profile.plus_until)}" if profile.plus_member else "no"),
                ("last active", output.moment(profile.last_active_at)),
            ],
        )
    ]


@users.command("register")
def register(
    context: typer.Context,
    city: Annotated[str, typer.Option(help="the user's city (sets the city tier), e.g. 临沂")],
    channel: Annotated[Channel, typer.Option(help="where the account was opened")] = Channel.WECHAT_MINI_PROGRAM,
    phone: Annotated[str, typer.Option(help="a phone number to link accounts of one person by")] = "",
    unionid: Annotated[str, typer.Option(help="a WeChat unionid to link by")] = "",
) -> None:
    """Register an account on the chosen line (as the account system)."""
    session = session_of(context)
    request = pb.RegisterUserRequest(city=city, channel=channel.for_segmentation())
    if phone:
        request.identities.append(pb.ExternalIdentity(kind=pb.IDENTITY_KIND_PHONE, value=phone))
    if unionid:
        request.identities.append(pb.ExternalIdentity(kind=pb.IDENTITY_KIND_WECHAT_UNIONID, value=unionid))
    user: pb.User = session.call(
        "segmentation",
        session.outside_service(ACCOUNTS, session.line),
        lambda channel: segmentation(channel).RegisterUser(request),
    )
    output.emit(session, user, render_user)


@users.command("show")
def show(context: typer.Context, user_id: Annotated[str, typer.Argument(metavar="USER")]) -> None:
    """A user and their profile (built from their orders, groups and PLUS)."""
    session = session_of(context)
    request = pb.GetUserRequest(user_id=user_id)
    user: pb.User = session.call(
        "segmentation",
        session.operator(user_line_or(user_id, session.line)),
        lambda channel: segmentation(channel).GetUser(request),
        retry=True,
    )
    output.emit(session, user, render_user)


@users.command("segments")
def segments_of(context: typer.Context, user_id: Annotated[str, typer.Argument(metavar="USER")]) -> None:
    """The segments a user is in now."""
    session = session_of(context)
    request = pb.GetSegmentsRequest(user_id=user_id)
    reply: pb.GetSegmentsResponse = session.call(
        "segmentation",
        session.operator(user_line_or(user_id, session.line)),
        lambda channel: segmentation(channel).GetSegments(request),
        retry=True,
    )

    def render(reply: pb.GetSegmentsResponse) -> output.Rendered:
        rows = output.table(f"segments of {user_id}", "segment", "version")
        for segment in reply.segments:
            rows.add_row(segment.segment_id, str(segment.version))
        return [rows]

    output.emit(session, reply, render)
