"""Request validation at segmentation's edge: shape only (ids, cities, identities, rules, page sizes).
Existence and permissions are decided behind it. Every request has passed libs.grpckit.wellformed first
(no control characters, no text over its generic cap, no unknown enum value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pingou.segmentation.v1 import segmentation_pb2 as pb

from libs.convert import LINE_FROM_PROTO
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.segmentation.domain.model import MAX_CITY_LENGTH, IdentityKind
from services.segmentation.service_layer.users import CHANNEL_TO_PROTO

SERVICE = pb.DESCRIPTOR.services_by_name["SegmentationService"].full_name
CHANNEL_FROM_PROTO = {value: key for key, value in CHANNEL_TO_PROTO.items()}
KIND_FROM_PROTO = {
    pb.IDENTITY_KIND_WECHAT_UNIONID: IdentityKind.WECHAT_UNIONID,
    pb.IDENTITY_KIND_PHONE: IdentityKind.PHONE,
}
MAX_IDENTITY_LENGTH = 64
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 500, 100


def _identity(problems: Violations, identity: pb.ExternalIdentity, field: str) -> None:
    problems.enum(f"{field}.kind", identity.kind, allowed=KIND_FROM_PROTO)
    problems.text(f"{field}.value", identity.value, max_length=MAX_IDENTITY_LENGTH)


def _line(problems: Violations, value: int) -> None:
    problems.enum("line", value, allowed=LINE_FROM_PROTO)


def _rule(problems: Violations, rule: pb.SegmentRule) -> None:
    for index, channel in enumerate(rule.channels):
        problems.enum(f"rule.channels[{index}]", channel, allowed=CHANNEL_FROM_PROTO)


def validate_register(request: pb.RegisterUserRequest) -> None:
    problems = Violations()
    problems.text("city", request.city.strip(), max_length=MAX_CITY_LENGTH)
    problems.enum("channel", request.channel, allowed=CHANNEL_FROM_PROTO)
    if len(request.identities) > len(KIND_FROM_PROTO):
        problems.add("identities", f"has more than {len(KIND_FROM_PROTO)} entries")
    for index, identity in enumerate(request.identities):
        _identity(problems, identity, f"identities[{index}]")
    kinds = [identity.kind for identity in request.identities]
    if len(set(kinds)) != len(kinds):
        problems.add("identities", "names the same kind twice")
    problems.raise_if_any()


def validate_user_only(request: Any) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    problems.raise_if_any()


def validate_update(request: pb.UpdateProfileRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    if not request.HasField("city") and not request.HasField("channel"):
        problems.add("city", "or channel must be given")
    if request.HasField("city"):
        problems.text("city", request.city.strip(), max_length=MAX_CITY_LENGTH)
    if request.HasField("channel"):
        problems.enum("channel", request.channel, allowed=CHANNEL_FROM_PROTO)
    problems.raise_if_any()


def validate_link(request: pb.LinkIdentityRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    _identity(problems, request.identity, "identity")
    problems.raise_if_any()


def validate_define(request: pb.DefineSegmentRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    problems.text("segment_id", request.segment_id, max_length=64)
    problems.text("description", request.description, min_length=0, max_length=200)
    _rule(problems, request.rule)
    problems.raise_if_any()


def validate_get_segment(request: pb.GetSegmentRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    problems.text("segment_id", request.segment_id, max_length=64)
    problems.raise_if_any()


def validate_list_segments(request: pb.ListSegmentsRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    problems.raise_if_any()


def validate_list_members(request: pb.ListSegmentMembersRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    problems.text("segment_id", request.segment_id, max_length=64)
    problems.number("page_size", request.page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", request.page_token, min_length=0, max_length=256)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/RegisterUser": validate_register,
    f"/{SERVICE}/GetUser": validate_user_only,
    f"/{SERVICE}/UpdateProfile": validate_update,
    f"/{SERVICE}/LinkIdentity": validate_link,
    f"/{SERVICE}/GetLinkedAccounts": validate_user_only,
    f"/{SERVICE}/IsNewToCompany": validate_user_only,
    f"/{SERVICE}/DefineSegment": validate_define,
    f"/{SERVICE}/GetSegment": validate_get_segment,
    f"/{SERVICE}/ListSegments": validate_list_segments,
    f"/{SERVICE}/GetSegments": validate_user_only,
    f"/{SERVICE}/ListSegmentMembers": validate_list_members,
}
