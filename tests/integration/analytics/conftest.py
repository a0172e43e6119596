"""The analytics service and the real segmentation service it asks for identity links, served in-process on
one fresh database under a topic prefix of their own, with their consumers and jobs running. Events are
published to the topics as the services' relays would (an envelope per event, keyed by its aggregate)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.analytics.v1 import analytics_pb2_grpc as pb_grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as seg_grpc
from pydantic import SecretStr

from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.convert import LINE_TO_PROTO, timestamp
from libs.core import BusinessLine
from libs.events import build_envelope, topic_name
from libs.grpckit import open_channel, service_token_metadata
from services.analytics.bootstrap import AnalyticsSettings
from services.analytics.bootstrap import build_app as build_analytics
from services.segmentation.bootstrap import SegmentationSettings
from services.segmentation.bootstrap import build_app as build_segmentation
from tests.conftest import Infra, Mint, fresh_database
from tests.support.database import count
from tests.support.notes import running_app
from tests.support.waiting import eventually

Metadata = list[tuple[str, str]]


@dataclass(frozen=True)
class Event:
    """One event as a service's relay publishes it: on `<line>.<aggregate>.v1`, keyed by `key`."""

    line: BusinessLine
    aggregate: str
    key: str
    payload: Message
    occurred_at: datetime
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class Platform:
    segmentation: seg_grpc.SegmentationServiceStub
    database_url: str
    kafka: str
    prefix: str
    mint: Mint
    analytics_settings: AnalyticsSettings
    stub: pb_grpc.AnalyticsServiceStub | None = None
    channel: grpc.aio.Channel | None = None  # to analytics, when served in-process
    port: int | None = None  # where analytics answers, when served in-process

    @property
    def analytics(self) -> pb_grpc.AnalyticsServiceStub:
        assert self.stub is not None, "analytics is not served in-process here"
        return self.stub

    def token(self, line: BusinessLine, role: Role = Role.ANALYTICS, subject: str = "analyst-1") -> Metadata:
        return service_token_metadata(self.mint(line=line, subject=subject, roles=(role,)))

    def accounts(self, line: BusinessLine) -> Metadata:
        return self.token(line, Role.SERVICE, subject="accounts")

    async def register(self, line: BusinessLine, *, phone: str | None = None, city: str = "临沂") -> str:
        request = seg_pb.RegisterUserRequest(city=city, channel=seg_pb.CHANNEL_WECHAT_MINI_PROGRAM)
        if phone is not None:
            request.identities.append(seg_pb.ExternalIdentity(kind=seg_pb.IDENTITY_KIND_PHONE, value=phone))
        user = await self.segmentation.RegisterUser(request, metadata=self.accounts(line))
        return str(user.user_id)

    async def publish(self, events: Sequence[Event]) -> None:
        """Every event, in order per topic and key, acknowledged by Kafka (acks=all) before returning."""
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            sent = []
            for event in events:
                envelope = build_envelope(
                    event.payload,
                    aggregate_id=event.key,
                    line=event.line,
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                )
                topic = topic_name(event.line, event.aggregate, prefix=self.prefix)
                sent.append(await producer.send(topic, key=event.key.encode(), value=envelope.SerializeToString()))
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    async def kpis(
        self,
        line: BusinessLine,
        granularity: pb.Granularity.ValueType,
        start: datetime | None,
        end: datetime | None,
    ) -> pb.KpiReport:
        request = pb.GetKpisRequest(line=LINE_TO_PROTO[line], granularity=granularity)
        if start is not None:
            getattr(request, "from").CopyFrom(timestamp(start))
        if end is not None:
            request.to.CopyFrom(timestamp(end))
        report: pb.KpiReport = await self.analytics.GetKpis(request, metadata=self.token(line))
        return report

    async def status(self, line: BusinessLine) -> pb.ConsumerStatus:
        status: pb.ConsumerStatus = await self.analytics.GetConsumerStatus(
            pb.GetConsumerStatusRequest(line=LINE_TO_PROTO[line]), metadata=self.token(line)
        )
        return status

    async def count(self, sql: str, *args: Any) -> int:
        return await count(self.database_url, sql, *args)

    async def applied(self, line: BusinessLine) -> int:
        return await self.count(f"SELECT coalesce(sum(events), 0) FROM analytics_{line.value}.events_applied")  # noqa: S608  -- a fixed schema

    async def caught_up(self, timeout: float = 60.0) -> None:
        """Until the group has committed every record of both lines' topics and no link lookup is waiting."""

        async def done() -> bool:
            for line in BusinessLine:
                if any(partition.lag for partition in (await self.status(line)).partitions):
                    return False
                waiting = await self.count(f"SELECT count(*) FROM analytics_{line.value}.link_lookups")  # noqa: S608  -- a fixed schema
                if waiting:
                    return False
            return True

        await eventually(done, timeout=timeout, pause=0.1)


@asynccontextmanager
async def platform(
    infra: Infra, keys: LocalKeys, page_token_key: Path, mint: Mint, topic_prefix: str, *, serve_analytics: bool = True
) -> AsyncIterator[Platform]:
    """Segmentation, and (unless told not to) analytics, on a database and topics of their own."""
    async with fresh_database(infra) as database_url:
        prefix = f"{topic_prefix}an{uuid.uuid4().hex[:6]}."
        common: dict[str, Any] = {
            "grpc_port": 0,
            "database_url": database_url,
            "kafka_bootstrap_servers": infra.kafka_bootstrap,
            "jwt_key_set_file": keys.key_set_file,
            "kafka_topic_prefix": prefix,
        }
        segmentation_settings = SegmentationSettings(
            **common, page_token_key_file=page_token_key, identity_link_salt=SecretStr("salt-for-tests-only-0123456789")
        )
        async with (
            running_app(build_segmentation, segmentation_settings) as segmentation,
            open_channel(f"127.0.0.1:{segmentation.port}", default_timeout=10) as segmentation_channel,
        ):
            settings = AnalyticsSettings(
                **common,
                segmentation_address=f"127.0.0.1:{segmentation.port}",
                service_signing_key_file=keys.service_key_file("analytics"),
                link_lookup_poll_seconds=0.05,
            )
            found = Platform(
                seg_grpc.SegmentationServiceStub(segmentation_channel), database_url, infra.kafka_bootstrap, prefix,
                mint, settings,
            )  # fmt: skip
            if not serve_analytics:
                yield found
                return
            async with (
                running_app(build_analytics, settings) as analytics,
                open_channel(f"127.0.0.1:{analytics.port}", default_timeout=10) as channel,
            ):
                found.stub, found.channel = pb_grpc.AnalyticsServiceStub(channel), channel
                found.port = analytics.port
                yield found


def status_code(error: grpc.aio.AioRpcError) -> grpc.StatusCode:
    code: grpc.StatusCode = error.code()
    return code


@pytest.fixture(scope="module")
async def analytics(
    infra: Infra, keys: LocalKeys, page_token_key: Path, mint: Mint, topic_prefix: str
) -> AsyncIterator[Platform]:
    async with platform(infra, keys, page_token_key, mint, topic_prefix) as found:
        yield found
