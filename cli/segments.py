"""Segment commands: define (each definition is a new version), list, show and list members, as an operator
of the chosen line."""

from __future__ import annotations

from typing import Annotated

import typer
from pingou.segmentation.v1 import segmentation_pb2 as pb

from cli import output
from cli.choices import Channel
from cli.connection import session_of
from cli.users import segmentation, tier
from libs.convert import LINE_TO_PROTO

segments = typer.Typer(help="Segments of the chosen line: rules over user profiles.", no_args_is_help=True)

Segment = Annotated[str, typer.Argument(metavar="SEGMENT", help="a lower-case slug, e.g. tier3to6-new")]
Tier = Annotated[int | None, typer.Option(min=1, max=6)]


def rule_text(rule: pb.SegmentRule) -> str:
    parts = []
    if rule.HasField("min_tier") or rule.HasField("max_tier"):
        low, high = rule.min_tier if rule.HasField("min_tier") else 1, rule.max_tier if rule.HasField("max_tier") else 6
        parts.append(f"tier {low}-{high}")
    if rule.channels:
        parts.append("channel " + " or ".join(output.label(pb.Channel.DESCRIPTOR, c) for c in rule.channels))
    if rule.HasField("new_to_company"):
        parts.append("new to the company" if rule.new_to_company else "not new to the company")
    if rule.HasField("dormant_days"):
        parts.append(f"dormant {rule.dormant_days}+ days")
    if rule.HasField("plus_member"):
        parts.append("PLUS" if rule.plus_member else "not PLUS")
    if rule.HasField("min_orders") or rule.HasField("max_orders"):
        most = str(rule.max_orders) if rule.HasField("max_orders") else "∞"
        parts.append(f"orders {rule.min_orders if rule.HasField('min_orders') else 0}..{most}")
    return ", ".join(parts) or "every user of the line"


def segments_table(title: str, found: list[pb.Segment]) -> output.Rendered:
    rows = output.table(title, "segment", "version", "rule", "description", "defined")
    for segment in found:
        rows.add_row(
            segment.segment_id,
            str(segment.version),
            rule_text(segment.rule),
            segment.description,
            output.moment(segment.created_at),
        )
    return [rows]


@segments.command("define")
def define(
    context: typer.Context,
    segment_id: Segment,
    description: Annotated[str, typer.Option(help="up to 200 characters")] = "",
    min_tier: Tier = None,
    max_tier: Tier = None,
    channel: Annotated[list[Channel] | None, typer.Option(help="any of these channels (repeat)")] = None,
    new_to_company: Annotated[bool | None, typer.Option("--new-to-company/--not-new-to-company")] = None,
    dormant_days: Annotated[int | None, typer.Option(min=1, help="no activity for at least this many days")] = None,
    plus_member: Annotated[bool | None, typer.Option("--plus/--not-plus")] = None,
    min_orders: Annotated[int | None, typer.Option(min=0)] = None,
    max_orders: Annotated[int | None, typer.Option(min=0)] = None,
) -> None:
    """Define a segment, or a new version of it; all conditions given must hold (none: every user)."""
    session = session_of(context)
    rule = pb.SegmentRule(
        min_tier=min_tier,
        max_tier=max_tier,
        channels=[item.for_segmentation() for item in channel or []],
        new_to_company=new_to_company,
        dormant_days=dormant_days,
        plus_member=plus_member,
        min_orders=min_orders,
        max_orders=max_orders,
    )
    request = pb.DefineSegmentRequest(
        line=LINE_TO_PROTO[session.line], segment_id=segment_id, description=description, rule=rule
    )
    segment: pb.Segment = session.call(
        "segmentation", session.operator(), lambda channel: segmentation(channel).DefineSegment(request)
    )
    output.emit(session, segment, lambda segment: segments_table(f"{session.line} segment", [segment]))


@segments.command("list")
def list_segments(context: typer.Context) -> None:
    """The segments of the chosen line, at their latest version."""
    session = session_of(context)
    request = pb.ListSegmentsRequest(line=LINE_TO_PROTO[session.line])
    reply: pb.ListSegmentsResponse = session.call(
        "segmentation", session.operator(), lambda channel: segmentation(channel).ListSegments(request), retry=True
    )
    output.emit(session, reply, lambda reply: segments_table(f"{session.line} segments", list(reply.segments)))


@segments.command("show")
def show(context: typer.Context, segment_id: Segment) -> None:
    """A segment at its latest version."""
    session = session_of(context)
    request = pb.GetSegmentRequest(line=LINE_TO_PROTO[session.line], segment_id=segment_id)
    segment: pb.Segment = session.call(
        "segmentation", session.operator(), lambda channel: segmentation(channel).GetSegment(request), retry=True
    )
    output.emit(session, segment, lambda segment: segments_table(f"{session.line} segment", [segment]))


@segments.command("members")
def members(
    context: typer.Context,
    segment_id: Segment,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    page_token: str = "",
) -> None:
    """A segment's members now, in registration order, a page at a time."""
    session = session_of(context)
    request = pb.ListSegmentMembersRequest(
        line=LINE_TO_PROTO[session.line], segment_id=segment_id, page_size=limit, page_token=page_token
    )
    reply: pb.ListSegmentMembersResponse = session.call(
        "segmentation",
        session.operator(),
        lambda channel: segmentation(channel).ListSegmentMembers(request),
        retry=True,
    )

    def render(reply: pb.ListSegmentMembersResponse) -> output.Rendered:
        rows = output.table(
            f"members of {segment_id} (version {reply.segment_version})", "user", "city", "tier", "channel", "orders"
        )
        for user in reply.users:
            rows.add_row(
                user.user_id,
                user.city,
                tier(user),
                output.label(pb.Channel.DESCRIPTOR, user.channel),
                str(user.profile.order_count),
            )
        return [rows, output.next_page(reply.next_page_token)]

    output.emit(session, reply, render)
