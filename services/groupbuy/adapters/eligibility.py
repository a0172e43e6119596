"""Who may join: segmentation's registry and new-to-company answer, membership's IsMember, cached briefly.

The group rules fail closed: without an answer no new-user-only or PLUS-only seat is given
(UNAVAILABLE). The registry check fails open (see is_registered). An account, once registered, stays
registered, so "registered" is remembered (in a bounded cache), and groupbuy keeps its own table of the
accounts segmentation has announced (UserRegistered): only an account not there yet, its event still on
the way, is asked of segmentation. "Not registered" is not remembered (a buyer may register a moment
later). Once a person has ordered they are never new again, so "not new" is kept
longer than "new"; the new-user discount's once-per-person rule does not rest on these caches (the seat
statement claims it in the database). "Member" is kept for a short time, as membership's API invites
callers to, and "not a member" not at all (a buyer who has just bought PLUS must not be turned away).
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from cachetools import LRUCache, TTLCache
from pingou.membership.v1 import membership_pb2 as membership_pb
from pingou.membership.v1 import membership_pb2_grpc as membership_grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as seg_grpc
from prometheus_client import Counter

from libs.auth import ServiceCredentials
from libs.core import BusinessLine, NotFound, Unavailable
from libs.grpckit import open_channel
from libs.logs import get_logger
from services.groupbuy.adapters.registry import RegisteredAccounts

SEGMENTATION_SERVICE = seg_pb.DESCRIPTOR.services_by_name["SegmentationService"].full_name
MEMBERSHIP_SERVICE = membership_pb.DESCRIPTOR.services_by_name["MembershipService"].full_name
DEADLINE_SECONDS = 2.0
NEW_SECONDS, NOT_NEW_SECONDS, MEMBER_SECONDS = 5.0, 300.0, 30.0
CACHED_USERS = 100_000
REGISTRY_UNANSWERED = Counter(
    "groupbuy_registry_unanswered", "Seats given without segmentation's answer that the buyer is registered"
)
log = get_logger(__name__)


def open_segmentation_channel(address: str) -> grpc.aio.Channel:
    reads = [f"{SEGMENTATION_SERVICE}/IsNewToCompany", f"{SEGMENTATION_SERVICE}/GetLinkedAccounts"]
    return open_channel(address, idempotent_methods=reads, default_timeout=DEADLINE_SECONDS)


def open_membership_channel(address: str) -> grpc.aio.Channel:
    return open_channel(
        address, idempotent_methods=[f"{MEMBERSHIP_SERVICE}/IsMember"], default_timeout=DEADLINE_SECONDS
    )


def _unavailable_or_raise(error: grpc.aio.AioRpcError, service: str, user_id: str) -> BaseException:
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{service} did not answer, so eligibility cannot be checked; retry",
                           reason=f"{service.upper()}_UNAVAILABLE")  # fmt: skip
    if error.code() == grpc.StatusCode.NOT_FOUND:
        return NotFound(f"{service} has no account {user_id}", reason="USER_NOT_FOUND")
    unexpected: BaseException = error  # a refused token, say: a misconfiguration, INTERNAL and logged
    return unexpected


class ServiceEligibility:
    def __init__(
        self,
        segmentation: grpc.aio.Channel,
        membership: grpc.aio.Channel,
        credentials: ServiceCredentials,
        registered: RegisteredAccounts,
    ):
        self._announced = registered  # the accounts segmentation's events have announced
        self._segmentation = seg_grpc.SegmentationServiceStub(segmentation)
        self._membership = membership_grpc.MembershipServiceStub(membership)
        self._credentials = credentials
        self._new: TTLCache[str, bool] = TTLCache(maxsize=CACHED_USERS, ttl=NEW_SECONDS)
        # "Not new" is remembered longer: once a person has ordered, they are never new again.
        self._not_new: TTLCache[str, bool] = TTLCache(maxsize=CACHED_USERS, ttl=NOT_NEW_SECONDS)
        self._members: TTLCache[str, bool] = TTLCache(maxsize=CACHED_USERS, ttl=MEMBER_SECONDS)
        self._registered: LRUCache[str, bool] = LRUCache(maxsize=CACHED_USERS)

    async def is_registered(self, user_id: str) -> bool:
        """Fails open, unlike the other answers: while segmentation is away a plain seat is still given
        (counted, logged), for an outage must not stop the joins of registered buyers, and every job
        copes with a buyer the registry does not know."""
        if user_id in self._registered or user_id in self._not_new or user_id in self._new:
            return True
        if await self._announced.knows(user_id):
            self._registered[user_id] = True
            return True
        try:
            new = await self._ask_new(user_id)  # the registry's cheapest answer about an account
        except NotFound:
            return False
        except Unavailable:
            REGISTRY_UNANSWERED.inc()
            log.warning("registry_unanswered_seat_given", user_id=user_id)
            return True
        self._registered[user_id] = True
        (self._new if new else self._not_new)[user_id] = new
        return True

    async def is_new_to_company(self, user_id: str) -> bool:
        if user_id in self._not_new:
            return False
        cached = self._new.get(user_id)
        if cached is not None:
            return cached
        new = await self._ask_new(user_id)
        (self._new if new else self._not_new)[user_id] = new
        return new

    async def _ask_new(self, user_id: str) -> bool:
        try:
            reply = await self._segmentation.IsNewToCompany(
                seg_pb.IsNewToCompanyRequest(user_id=user_id), metadata=self._credentials.metadata(BusinessLine.PINGOU)
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable_or_raise(error, "segmentation", user_id) from None
        return bool(reply.new_to_company)

    async def is_member(self, user_id: str) -> bool:
        if user_id in self._members:
            return True
        member = await self._ask_member(user_id)
        if member:
            # Only "member" is remembered: a buyer who has just bought PLUS is let in at once.
            self._members[user_id] = True
        return member

    async def _ask_member(self, user_id: str) -> bool:
        try:
            reply = await self._membership.IsMember(
                membership_pb.IsMemberRequest(user_id=user_id), metadata=self._credentials.metadata(BusinessLine.PINGOU)
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable_or_raise(error, "membership", user_id) from None
        return bool(reply.member)

    async def linked_accounts(self, user_id: str) -> Sequence[str]:
        """Other accounts of the same person (for the identity check of completed groups)."""
        try:
            reply = await self._segmentation.GetLinkedAccounts(
                seg_pb.GetLinkedAccountsRequest(user_id=user_id),
                metadata=self._credentials.metadata(BusinessLine.PINGOU),
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable_or_raise(error, "segmentation", user_id) from None
        return [account.user_id for account in reply.accounts]
