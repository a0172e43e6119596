"""Proto <-> domain for the segmentation API: identities and rules from requests; users, segments, links and
pages of members as answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pingou.segmentation.v1 import segmentation_pb2 as pb

from libs.convert import LINE_TO_PROTO, optional_timestamp
from libs.core import BusinessLine
from services.segmentation.domain.model import IdentityKind, Segment, SegmentRule, User
from services.segmentation.entrypoints.validation import CHANNEL_FROM_PROTO as CHANNEL_FROM_PROTO
from services.segmentation.entrypoints.validation import KIND_FROM_PROTO
from services.segmentation.service_layer.users import CHANNEL_TO_PROTO, Identity

KIND_TO_PROTO = {value: key for key, value in KIND_FROM_PROTO.items()}


def identity_from_proto(identity: pb.ExternalIdentity) -> Identity:
    return Identity(KIND_FROM_PROTO[identity.kind], identity.value)


def user_to_proto(user: User, *, now: datetime) -> pb.User:
    profile = user.profile
    return pb.User(
        user_id=user.user_id,
        line=LINE_TO_PROTO[user.line],
        city=user.city,
        city_tier=user.city_tier,
        city_known=user.city_known,
        channel=CHANNEL_TO_PROTO[user.channel],
        registered_at=optional_timestamp(user.registered_at),
        profile=pb.Profile(
            first_order_at=optional_timestamp(profile.first_order_at),
            order_count=profile.order_count,
            spend_minor=profile.spend_minor,
            plus_member=profile.plus_member(now),
            plus_until=optional_timestamp(profile.plus_until),
            last_active_at=optional_timestamp(profile.last_active_at),
        ),
    )


def linked_account_to_proto(account: tuple[str, BusinessLine, IdentityKind]) -> pb.LinkedAccount:
    """Another account sharing an identity with the user: its id, its line and the identity's kind."""
    user_id, line, kind = account
    return pb.LinkedAccount(user_id=user_id, line=LINE_TO_PROTO[line], via=KIND_TO_PROTO[kind])


def rule_from_proto(rule: pb.SegmentRule) -> SegmentRule:
    def optional(name: str) -> Any:
        return getattr(rule, name) if rule.HasField(name) else None  # type: ignore[arg-type]  # fixed names below

    return SegmentRule(
        min_tier=optional("min_tier"),
        max_tier=optional("max_tier"),
        channels=tuple(dict.fromkeys(CHANNEL_FROM_PROTO[channel] for channel in rule.channels)),
        new_to_company=optional("new_to_company"),
        dormant_days=optional("dormant_days"),
        plus_member=optional("plus_member"),
        min_orders=optional("min_orders"),
        max_orders=optional("max_orders"),
    )


def rule_to_proto(rule: SegmentRule) -> pb.SegmentRule:
    stored = rule.to_json()
    stored["channels"] = [CHANNEL_TO_PROTO[channel] for channel in rule.channels]
    return pb.SegmentRule(**stored)


def segment_to_proto(segment: Segment) -> pb.Segment:
    return pb.Segment(
        segment_id=segment.segment_id,
        version=segment.version,
        line=LINE_TO_PROTO[segment.line],
        description=segment.description,
        rule=rule_to_proto(segment.rule),
        created_at=optional_timestamp(segment.created_at),
    )


def segment_membership_to_proto(segment: Segment) -> pb.SegmentMembership:
    return pb.SegmentMembership(segment_id=segment.segment_id, version=segment.version)


def members_page(members: list[User], next_token: str, version: int, *, now: datetime) -> pb.ListSegmentMembersResponse:
    """A page of a segment's members, the next page's token ('' after the last) and the segment's version."""
    return pb.ListSegmentMembersResponse(
        users=[user_to_proto(user, now=now) for user in members],
        next_page_token=next_token,
        segment_version=version,
    )
