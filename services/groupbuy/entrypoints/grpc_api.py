"""The gRPC adapter: proto -> command -> use case -> proto, the mapping in `mapping.py`. Use cases do the
work. Requests are validated (`validation.py`) and their callers checked against the method's rule
(`access.py`) before they get here."""

from __future__ import annotations

import grpc
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.groupbuy.v1 import groupbuy_pb2_grpc as pb_grpc

from libs.auth import current_principal
from libs.core.paging import PageTokens
from services.groupbuy.domain.paging import DEFAULT_PAGE_SIZE
from services.groupbuy.entrypoints import mapping
from services.groupbuy.entrypoints.access import READERS_OF_USERS
from services.groupbuy.service_layer import queries, seats
from services.groupbuy.service_layer.context import Context

# --- the servicer


class GroupbuyServicer(pb_grpc.GroupbuyServiceServicer):
    def __init__(self, context: Context, *, page_tokens: PageTokens):
        self._context = context
        self._page_tokens = page_tokens

    async def OpenGroup(self, request: pb.OpenGroupRequest, context: grpc.aio.ServicerContext) -> pb.SeatResult:
        buyer = mapping.buyer_from_proto(request.buyer)
        return mapping.result_to_proto(await seats.open_group(self._context, buyer, request.sku_id))

    async def JoinGroup(self, request: pb.JoinGroupRequest, context: grpc.aio.ServicerContext) -> pb.SeatResult:
        buyer = mapping.buyer_from_proto(request.buyer)
        if request.WhichOneof("target") == "invite_code":
            taken = await seats.join_group(self._context, buyer, invite_code=request.invite_code)
        else:
            taken = await seats.join_group(self._context, buyer, group_id=request.group_id)
        return mapping.result_to_proto(taken)

    async def AutoMatch(self, request: pb.AutoMatchRequest, context: grpc.aio.ServicerContext) -> pb.SeatResult:
        buyer = mapping.buyer_from_proto(request.buyer)
        return mapping.result_to_proto(await seats.auto_match(self._context, buyer, request.sku_id))

    async def ListOpenGroups(
        self, request: pb.ListOpenGroupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGroupsResponse:
        after = mapping.open_groups_after(request, self._page_tokens)
        size = request.page_size or DEFAULT_PAGE_SIZE
        found = await queries.open_groups(self._context, sku_id=request.sku_id, after=after, limit=size + 1)
        page = mapping.open_groups_page(found, size, sku_id=request.sku_id, tokens=self._page_tokens)
        viewer = current_principal()
        if not viewer.has_role(*READERS_OF_USERS):
            for group in page.groups:
                mapping.seen_by_buyer(group, viewer.subject)
        return page

    async def GetGroup(self, request: pb.GetGroupRequest, context: grpc.aio.ServicerContext) -> pb.Group:
        viewer = current_principal()
        group, members = await queries.group_with_seats(self._context, request.group_id)
        full = mapping.group_to_proto(group, members)
        return full if viewer.has_role(*READERS_OF_USERS) else mapping.seen_by_buyer(full, viewer.subject)

    async def ListUserGroups(
        self, request: pb.ListUserGroupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGroupsResponse:
        after = mapping.user_groups_after(request, self._page_tokens)
        size = request.page_size or DEFAULT_PAGE_SIZE
        found = await queries.user_groups(self._context, user_id=request.user_id, after=after, limit=size + 1)
        return mapping.user_groups_page(found, size, user_id=request.user_id, tokens=self._page_tokens)
