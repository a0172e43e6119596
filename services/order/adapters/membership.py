"""The membership service's IsMember, asked with a deadline (it is cheap, and callers cache it for a short
time). Only "member" is remembered, briefly and never past the membership's own end: "not a
member" is what a purchase changes, so it is asked again on every order (a buyer who has just bought
PLUS pays the member price at once). When membership does not answer, the buyer is treated as not a
member: the order still goes through at the normal price, and that is logged and counted."""

from __future__ import annotations

import time

import grpc
from cachetools import LRUCache
from pingou.membership.v1 import membership_pb2 as membership_pb
from pingou.membership.v1 import membership_pb2_grpc as membership_grpc
from prometheus_client import Counter

from libs.auth import ServiceCredentials
from libs.core import user_line
from libs.grpckit import open_channel
from libs.logs import get_logger

log = get_logger(__name__)

MEMBERSHIP_SERVICE = membership_pb.DESCRIPTOR.services_by_name["MembershipService"].full_name
IS_MEMBER = f"{MEMBERSHIP_SERVICE}/IsMember"  # a read: safe to retry
DEADLINE_SECONDS = 0.5  # a checkout does not wait long for a discount
MEMBERSHIP_UNANSWERED = Counter(
    "order_membership_unanswered", "Orders priced without PLUS because membership did not answer in time"
)


def open_membership_channel(address: str) -> grpc.aio.Channel:
    return open_channel(address, idempotent_methods=[IS_MEMBER], default_timeout=DEADLINE_SECONDS)


class Membership:
    def __init__(
        self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *, ttl_seconds: float, max_users: int
    ):
        self._stub = membership_grpc.MembershipServiceStub(channel)
        self._credentials = credentials
        self._ttl = ttl_seconds
        self._members: LRUCache[str, float] = LRUCache(maxsize=max_users)  # user -> remembered until (epoch s)

    async def is_member(self, user_id: str) -> bool:
        until = self._members.get(user_id)
        if until is not None and time.time() < until:
            return True
        try:
            reply = await self._stub.IsMember(
                membership_pb.IsMemberRequest(user_id=user_id), metadata=self._credentials.metadata(user_line(user_id))
            )
        except grpc.aio.AioRpcError as error:
            MEMBERSHIP_UNANSWERED.inc()
            log.warning("membership_unanswered_priced_without_plus", user_id=user_id, code=error.code().name)
            return False
        if not reply.member:
            self._members.pop(user_id, None)
            return False
        ends = reply.expires_at.ToSeconds() if reply.HasField("expires_at") else float("inf")
        self._members[user_id] = min(time.time() + self._ttl, ends)
        return True
