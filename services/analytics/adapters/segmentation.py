"""Segmentation's identity links, asked over gRPC with analytics' own credentials (a `service` token of
the account's line, signed by analytics' key)."""

from __future__ import annotations

import grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as seg_grpc

from libs.auth import ServiceCredentials
from libs.core import Unavailable, user_line
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

    async def linked_accounts(self, user_id: str) -> list[str] | None:
        try:
            reply = await self._stub.GetLinkedAccounts(
                seg_pb.GetLinkedAccountsRequest(user_id=user_id),
                metadata=self._credentials.metadata(user_line(user_id)),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable(
                    "segmentation did not answer a link lookup", reason="SEGMENTATION_UNAVAILABLE"
                ) from None
            raise  # a refused token, say: a misconfiguration, retried by the job until it is fixed
        return [account.user_id for account in reply.accounts]
