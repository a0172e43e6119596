"""The gRPC adapter: proto -> command -> use case -> proto, the mapping in `mapping.py`. Use cases do the
work. Requests are validated (`validation.py`) and their callers checked against the method's rule
(`access.py`) before they get here: the line of the user or segments a call names is the caller's line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import asyncpg
import grpc
from pingou.segmentation.v1 import segmentation_pb2 as pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.core import BusinessLine
from libs.core.cities import CityTiers
from libs.core.paging import PageTokens
from services.segmentation.entrypoints import mapping
from services.segmentation.entrypoints.validation import DEFAULT_PAGE_SIZE
from services.segmentation.service_layer import segments, users
from services.segmentation.service_layer.unit_of_work import UnitOfWork

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
        identities = [mapping.identity_from_proto(identity) for identity in request.identities]
        async with self._uow(principal.line) as uow:
            user = await users.register_user(
                uow,
                cities=self._cities,
                salt=self._salt,
                city=request.city,
                channel=mapping.CHANNEL_FROM_PROTO[request.channel],
                identities=identities,
            )
        return mapping.user_to_proto(user, now=self._now())

    async def GetUser(self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext) -> pb.User:
        line = current_principal().line
        async with self._uow(line) as uow:
            user = await users.get_user(uow, request.user_id)
        return mapping.user_to_proto(user, now=self._now())

    async def UpdateProfile(self, request: pb.UpdateProfileRequest, context: grpc.aio.ServicerContext) -> pb.User:
        line = current_principal().line
        async with self._uow(line) as uow:
            user = await users.update_profile(
                uow,
                cities=self._cities,
                user_id=request.user_id,
                city=request.city if request.HasField("city") else None,
                channel=mapping.CHANNEL_FROM_PROTO[request.channel] if request.HasField("channel") else None,
            )
        return mapping.user_to_proto(user, now=self._now())

    async def LinkIdentity(
        self, request: pb.LinkIdentityRequest, context: grpc.aio.ServicerContext
    ) -> pb.LinkIdentityResponse:
        line = current_principal().line
        identity = mapping.identity_from_proto(request.identity)
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
        return pb.GetLinkedAccountsResponse(accounts=[mapping.linked_account_to_proto(account) for account in accounts])

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
                rule=mapping.rule_from_proto(request.rule),
                created_by=current_principal().subject,
            )
        return mapping.segment_to_proto(segment)

    async def GetSegment(self, request: pb.GetSegmentRequest, context: grpc.aio.ServicerContext) -> pb.Segment:
        line = current_principal().line
        async with self._uow(line) as uow:
            return mapping.segment_to_proto(await segments.get_segment(uow, request.segment_id))

    async def ListSegments(
        self, request: pb.ListSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSegmentsResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            found = await segments.list_segments(uow)
        return pb.ListSegmentsResponse(segments=[mapping.segment_to_proto(segment) for segment in found])

    async def GetSegments(
        self, request: pb.GetSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSegmentsResponse:
        line = current_principal().line
        async with self._uow(line) as uow:
            found = await segments.segments_of_user(uow, request.user_id)
        return pb.GetSegmentsResponse(segments=[mapping.segment_membership_to_proto(segment) for segment in found])

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
        return mapping.members_page(members, next_token, version, now=self._now())
