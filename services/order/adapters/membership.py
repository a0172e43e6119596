"""The membership service's IsMember, asked with a deadline and remembered briefly (SPEC 2.4: cheap, and
cached by callers for a short time). When membership does not answer, the buyer is treated as not a
member: the order still goes through at the normal price, and that is logged and counted."""

from __future__ import annotations

import grpc
from cachetools import TTLCache
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
        self._answers: TTLCache[str, bool] = TTLCache(maxsize=max_users, ttl=ttl_seconds)

    async def is_member(self, user_id: str) -> bool:
        cached = self._answers.get(user_id)
        if cached is not None:
            return cached
        try:
            reply = await self._stub.IsMember(
                membership_pb.IsMemberRequest(user_id=user_id), metadata=self._credentials.metadata(user_line(user_id))
            )
        except grpc.aio.AioRpcError as error:
            # Not cached: the next order asks again.
            MEMBERSHIP_UNANSWERED.inc()
            log.warning("membership_unanswered_priced_without_plus", user_id=user_id, code=error.code().name)
            return False
        member = bool(reply.member)
        self._answers[user_id] = member
        return member
