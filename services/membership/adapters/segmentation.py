"""The segmentation service's identity links, asked over gRPC with this service's own credentials."""

from __future__ import annotations

import grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as seg_grpc

from libs.auth import ServiceCredentials
from libs.core import NotFound, Unavailable, user_line
from libs.grpckit import open_channel

SEGMENTATION_SERVICE = seg_pb.DESCRIPTOR.services_by_name["SegmentationService"].full_name
# A read: safe to retry when segmentation is briefly UNAVAILABLE (a restart, a rolling deploy).
GET_LINKED_ACCOUNTS = f"{SEGMENTATION_SERVICE}/GetLinkedAccounts"
DEADLINE_SECONDS = 2.0


def open_segmentation_channel(address: str) -> grpc.aio.Channel:
    return open_channel(address, idempotent_methods=[GET_LINKED_ACCOUNTS], default_timeout=DEADLINE_SECONDS)


class SegmentationLinks:
    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials):
        self._stub = seg_grpc.SegmentationServiceStub(channel)
        self._credentials = credentials

    async def linked_accounts(self, user_id: str) -> list[str]:
        """Other accounts of the same person, on any line. The token is for the user's own line, as
        segmentation requires."""
        try:
            reply = await self._stub.GetLinkedAccounts(
                seg_pb.GetLinkedAccountsRequest(user_id=user_id),
                metadata=self._credentials.metadata(user_line(user_id)),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(
                    "segmentation did not answer, so the trial cannot be checked against linked accounts; retry",
                    reason="SEGMENTATION_UNAVAILABLE",
                ) from None
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"segmentation has no account {user_id}", reason="USER_NOT_FOUND") from None
            raise  # anything else (a refused token, say) is a misconfiguration: INTERNAL, and logged
        return [account.user_id for account in reply.accounts]
