"""The segmentation service, served in-process with its real database schemas, relays and consumers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from pingou.segmentation.v1 import segmentation_pb2 as pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as pb_grpc
from pydantic import SecretStr

from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.events import topic_name
from libs.grpckit import open_channel, service_token_metadata
from services.segmentation.bootstrap import SegmentationSettings, build_app
from tests.conftest import Infra, Mint, fresh_database
from tests.support.database import count
from tests.support.kafka import publish_events
from tests.support.notes import running_app


@dataclass
class Segmentation:
    stub: pb_grpc.SegmentationServiceStub
    database_url: str
    kafka: str
    topic_prefix: str
    mint: Mint

    def token(self, line: BusinessLine, *roles: Role, subject: str = "accounts") -> list[tuple[str, str]]:
        return service_token_metadata(self.mint(line=line, subject=subject, roles=roles or (Role.SERVICE,)))

    async def register(
        self,
        line: BusinessLine,
        city: str = "杭州",
        channel: pb.Channel.ValueType = pb.CHANNEL_WECHAT_MINI_PROGRAM,
        **identities: str,
    ) -> pb.User:
        request = pb.RegisterUserRequest(city=city, channel=channel)
        for kind, value in identities.items():
            proto_kind = pb.IDENTITY_KIND_PHONE if kind == "phone" else pb.IDENTITY_KIND_WECHAT_UNIONID
            request.identities.append(pb.ExternalIdentity(kind=proto_kind, value=value))
        user: pb.User = await self.stub.RegisterUser(request, metadata=self.token(line))
        return user

    async def get(self, user_id: str) -> pb.User:
        line = BusinessLine.PINGOU if user_id.startswith("pu_") else BusinessLine.MALL
        user: pb.User = await self.stub.GetUser(pb.GetUserRequest(user_id=user_id), metadata=self.token(line))
        return user

    async def publish(
        self, line: BusinessLine, aggregate: str, events: Sequence[tuple[str, Message, uuid.UUID | None]]
    ) -> list[uuid.UUID]:
        topic = topic_name(line, aggregate, prefix=self.topic_prefix)
        return await publish_events(self.kafka, topic, events, line=line)

    async def count(self, sql: str, *args: Any) -> int:
        return await count(self.database_url, sql, *args)


@pytest.fixture(scope="module")
async def segmentation(
    infra: Infra, keys: LocalKeys, page_token_key: Path, topic_prefix: str, mint: Mint
) -> AsyncIterator[Segmentation]:
    async with fresh_database(infra) as database_url:
        prefix = f"{topic_prefix}seg{uuid.uuid4().hex[:6]}."
        settings = SegmentationSettings(
            grpc_port=0,
            database_url=database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap,
            jwt_key_set_file=keys.key_set_file,
            page_token_key_file=page_token_key,
            kafka_topic_prefix=prefix,
            identity_link_salt=SecretStr("salt-for-tests-only-0123456789"),
        )
        async with (
            running_app(build_app, settings) as server,
            open_channel(f"127.0.0.1:{server.port}", default_timeout=10) as channel,
        ):
            yield Segmentation(
                pb_grpc.SegmentationServiceStub(channel), database_url, infra.kafka_bootstrap, prefix, mint
            )


def status_of(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str | None]:
    from libs.grpckit.errors import reason_of

    return error.code(), reason_of(error)
