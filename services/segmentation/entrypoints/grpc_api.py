"""The gRPC adapter: proto <-> domain. Use cases do the work. Requests are validated (`validation.py`) and
their callers checked against the method's rule (`access.py`) before they get here: the line of the user
or segments a call names is the caller's line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
from pingou.segmentation.v1 import segmentation_pb2 as pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.convert import LINE_TO_PROTO, optional_timestamp
from libs.core import BusinessLine
from libs.core.cities import CityTiers
from libs.core.paging import PageTokens
from services.segmentation.domain.model import (
    Segment,
    SegmentRule,
    User,
)
from services.segmentation.entrypoints.validation import CHANNEL_FROM_PROTO, DEFAULT_PAGE_SIZE, KIND_FROM_PROTO
from services.segmentation.service_layer import segments, users
from services.segmentation.service_layer.unit_of_work import UnitOfWork
from services.segmentation.service_layer.users import CHANNEL_TO_PROTO, Identity

KIND_TO_PROTO = {value: key for key, value in KIND_FROM_PROTO.items()}


# --- proto <-> domain


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


# --- the servicer


class SegmentationServicer(pb_grpc.SegmentationServiceServicer):
    def __init__(
        self,
        *,
        pools: Mapping[BusinessLine, asyncpg.Pool],
        cities: CityTiers,
        salt: bytes,
        topic_prefix: str,
        page_tokens: PageTokens,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._pools = pools
        self._page_tokens = page_tokens
        self._cities = cities
        self._salt = salt
        self._prefix = topic_prefix
        self._now = clock

    def _uow(self, line: BusinessLine) -> UnitOfWork:
        return UnitOfWork(self._pools[line], line, topic_prefix=self._prefix)

    async def RegisterUser(self, request: pb.RegisterUserRequest, context: grpc.aio.ServicerContext) -> pb.User:
        principal = current_principal()
        identities = [Identity(KIND_FROM_PROTO[i.kind], i.value) for i in request.identities]
        async with self._uow(principal.line) as uow:
            user = await users.register_user(
                uow,
                cities=self._cities,
                salt=self._salt,
                city=request.city,
                channel=CHANNEL_FROM_PROTO[request.channel],
                identities=identities,
            )
        return user_to_proto(user, now=self._now())

    async def GetUser(self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext) -> pb.User:
        line = current_principal().line
        async with self._uow(line) as uow:
            user = await users.get_user(uow, request.user_id)
        return user_to_proto(user, now=self._now())

    async def UpdateProfile(self, request: pb.UpdateProfileRequest, context: grpc.aio.ServicerContext) -> pb.User:
        line = current_principal().line
        async with self._uow(line) as uow:
            user = await users.update_profile(
                uow,
                cities=self._cities,
                user_id=request.user_id,
                city=request.city if request.HasField("city") else None,
                channel=CHANNEL_FROM_PROTO[request.channel] if request.HasField("channel") else None,
            )
        return user_to_proto(user, now=self._now())

    async def LinkIdentity(
        self, request: pb.LinkIdentityRequest, context: grpc.aio.ServicerContext
    ) -> pb.LinkIdentityResponse:
        line = current_principal().line
        identity = Identity(KIND_FROM_PROTO[request.identity.kind], request.identity.value)
        async with self._uow(line) as uow:
            linked = await users.link_identity(uow, salt=self._salt, user_id=request.user_id, identity=identity)
        return pb.LinkIdentityResponse(linked_accounts=linked)

    async def GetLinkedAccounts(
        self, request: pb.GetLinkedAccountsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetLinkedAccountsResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            await users.get_user(uow, request.user_id)
            accounts = await uow.users.linked_accounts(request.user_id)
        return pb.GetLinkedAccountsResponse(
            accounts=[
                pb.LinkedAccount(user_id=user_id, line=LINE_TO_PROTO[other], via=KIND_TO_PROTO[kind])
                for user_id, other, kind in accounts
            ]
        )

    async def IsNewToCompany(
        self, request: pb.IsNewToCompanyRequest, context: grpc.aio.ServicerContext
    ) -> pb.IsNewToCompanyResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            new, linked = await users.is_new_to_company(uow, request.user_id)
        return pb.IsNewToCompanyResponse(new_to_company=new, linked_accounts=linked)

    async def DefineSegment(self, request: pb.DefineSegmentRequest, context: grpc.aio.ServicerContext) -> pb.Segment:
        line = current_principal().line
        async with self._uow(line) as uow:
            segment = await segments.define_segment(
                uow,
                segment_id=request.segment_id,
                description=request.description,
                rule=rule_from_proto(request.rule),
                created_by=current_principal().subject,
            )
        return segment_to_proto(segment)

    async def GetSegment(self, request: pb.GetSegmentRequest, context: grpc.aio.ServicerContext) -> pb.Segment:
        line = current_principal().line
        async with self._uow(line) as uow:
            return segment_to_proto(await segments.get_segment(uow, request.segment_id))

    async def ListSegments(
        self, request: pb.ListSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSegmentsResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            found = await segments.list_segments(uow)
        return pb.ListSegmentsResponse(segments=[segment_to_proto(segment) for segment in found])

    async def GetSegments(
        self, request: pb.GetSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSegmentsResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            found = await segments.segments_of_user(uow, request.user_id)
        return pb.GetSegmentsResponse(
            segments=[pb.SegmentMembership(segment_id=s.segment_id, version=s.version) for s in found]
        )

    async def ListSegmentMembers(
        self, request: pb.ListSegmentMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSegmentMembersResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            members, next_token, version = await segments.list_members(
                uow,
                segment_id=request.segment_id,
                page_size=request.page_size or DEFAULT_PAGE_SIZE,
                page_token=request.page_token,
                tokens=self._page_tokens,
            )
        now = self._now()
        return pb.ListSegmentMembersResponse(
            users=[user_to_proto(user, now=now) for user in members],
            next_page_token=next_token,
            segment_version=version,
        )
