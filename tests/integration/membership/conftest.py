"""The membership service and the real segmentation service it asks for identity links, both served
in-process on one fresh database, with their relays, consumers and the expiry job running."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from pingou.membership.v1 import events_pb2 as events
from pingou.membership.v1 import membership_pb2 as pb
from pingou.membership.v1 import membership_pb2_grpc as pb_grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as seg_grpc
from pydantic import SecretStr

from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine, user_line
from libs.database import schema_name
from libs.events import topic_name
from libs.grpckit import open_channel, service_token_metadata
from libs.grpckit.errors import reason_of
from services.membership.bootstrap import MembershipSettings
from services.membership.bootstrap import build_app as build_membership
from services.membership.domain.plans import PLANS
from services.membership.entrypoints.validation import PLAN_FROM_PROTO
from services.segmentation.bootstrap import SegmentationSettings
from services.segmentation.bootstrap import build_app as build_segmentation
from tests.conftest import Infra, Mint, fresh_database
from tests.support.database import count, fetch
from tests.support.kafka import published_events
from tests.support.notes import running_app

EVENT_TYPES: tuple[type[Message], ...] = (
    events.MembershipPurchased,
    events.MembershipRenewed,
    events.MembershipExpired,
    events.MembershipAutoRenewCancelled,
)


def price_of(plan: events.Plan.ValueType) -> int:
    return PLANS[PLAN_FROM_PROTO[plan]].price_minor


def status_of(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str | None]:
    return error.code(), reason_of(error)


def new_phone() -> str:
    return f"139{random.randrange(10**8):08d}"


@dataclass
class Plus:
    stub: pb_grpc.MembershipServiceStub
    segmentation: seg_grpc.SegmentationServiceStub
    settings: MembershipSettings
    mint: Mint

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    def token(self, line: BusinessLine, *roles: Role, subject: str = "payments") -> list[tuple[str, str]]:
        return service_token_metadata(self.mint(line=line, subject=subject, roles=roles or (Role.SERVICE,)))

    def service(self, user_id: str) -> list[tuple[str, str]]:
        """The payment backend's token for the user's line."""
        return self.token(user_line(user_id))

    async def register(self, line: BusinessLine, *, phone: str | None = None) -> str:
        request = seg_pb.RegisterUserRequest(city="临沂", channel=seg_pb.CHANNEL_WECHAT_MINI_PROGRAM)
        if phone is not None:
            request.identities.append(seg_pb.ExternalIdentity(kind=seg_pb.IDENTITY_KIND_PHONE, value=phone))
        user = await self.segmentation.RegisterUser(request, metadata=self.token(line, subject="accounts"))
        return str(user.user_id)

    def purchase_request(
        self,
        user_id: str,
        plan: events.Plan.ValueType = events.PLAN_ANNUAL,
        *,
        reference: str | None = None,
        amount: int | None = None,
        auto_renew: bool = False,
    ) -> pb.PurchaseRequest:
        return pb.PurchaseRequest(
            user_id=user_id,
            plan=plan,
            payment_reference=reference or f"pay-{uuid.uuid4().hex}",
            amount_paid_minor=price_of(plan) if amount is None else amount,
            currency="CNY",
            auto_renew=auto_renew,
        )

    async def buy(
        self, user_id: str, plan: events.Plan.ValueType = events.PLAN_ANNUAL, **options: Any
    ) -> pb.Membership:
        membership: pb.Membership = await self.stub.Purchase(
            self.purchase_request(user_id, plan, **options), metadata=self.service(user_id)
        )
        return membership

    async def renew(
        self, user_id: str, plan: events.Plan.ValueType = events.PLAN_MONTHLY, *, reference: str | None = None
    ) -> pb.Membership:
        membership: pb.Membership = await self.stub.Renew(
            pb.RenewRequest(
                user_id=user_id,
                plan=plan,
                payment_reference=reference or f"pay-{uuid.uuid4().hex}",
                amount_paid_minor=price_of(plan),
                currency="CNY",
            ),
            metadata=self.service(user_id),
        )
        return membership

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await fetch(self.database_url, sql, *args)

    async def count(self, sql: str, *args: Any) -> int:
        return await count(self.database_url, sql, *args)

    async def row_counts(self) -> tuple[int, ...]:
        """Rows of every membership table of both lines and of the trial claims: what a refused call
        must leave as it was."""
        tables = [
            f"{schema_name('membership', line)}.{table}"
            for line in BusinessLine
            # Not the outbox: its relay drains it meanwhile. A refused call's events would show on the topic.
            for table in ("memberships", "payments", "coupon_ledgers", "coupon_uses")
        ]
        tables.append("membership_trials.trial_claims")
        return tuple([await self.count(f"SELECT count(*) FROM {table}") for table in tables])  # noqa: S608  -- fixed names

    async def move_back(self, user_id: str, by: timedelta) -> None:
        """Travel in time: the user's membership and every period they paid for happened `by` earlier."""
        schema = schema_name("membership", user_line(user_id))
        await self.fetch(
            f"""UPDATE {schema}.memberships
            SET started_at = started_at - $2::interval, expires_at = expires_at - $2::interval
            WHERE user_id = $1""",  # noqa: S608  -- a fixed schema name
            user_id,
            by,
        )
        await self.fetch(
            f"""UPDATE {schema}.payments
            SET run_started_at = run_started_at - $2::interval, starts_at = starts_at - $2::interval,
                ends_at = ends_at - $2::interval
            WHERE user_id = $1""",  # noqa: S608  -- a fixed schema name
            user_id,
            by,
        )

    async def published(self, line: BusinessLine) -> list[tuple[str, Message]]:
        """Every (key, event) on the line's membership topic, once everything committed so far is on Kafka
        (the relay deletes an outbox row only after Kafka acknowledged it)."""
        topic = topic_name(line, "membership", prefix=self.settings.kafka_topic_prefix)
        return await published_events(
            self.settings.kafka_bootstrap_servers,
            topic,
            EVENT_TYPES,
            dsn=self.database_url,
            outbox_schema=schema_name("membership", line),
        )

    async def events_of(self, user_id: str) -> list[Message]:
        """The user's membership events in the order they were published (one key, one partition)."""
        return [event for key, event in await self.published(user_line(user_id)) if key == user_id]


@pytest.fixture(scope="module")
async def plus(
    infra: Infra, keys: LocalKeys, page_token_key: Path, topic_prefix: str, mint: Mint
) -> AsyncIterator[Plus]:
    async with fresh_database(infra) as database_url:
        prefix = f"{topic_prefix}plus{uuid.uuid4().hex[:6]}."
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
        async with running_app(build_segmentation, segmentation_settings) as segmentation:
            settings = MembershipSettings(
                **common,
                segmentation_address=f"127.0.0.1:{segmentation.port}",
                service_signing_key_file=keys.service_key_file("membership"),
                expiry_poll_seconds=0.2,
            )
            async with (
                running_app(build_membership, settings) as membership,
                open_channel(f"127.0.0.1:{membership.port}", default_timeout=10) as channel,
                open_channel(f"127.0.0.1:{segmentation.port}", default_timeout=10) as segmentation_channel,
            ):
                yield Plus(
                    pb_grpc.MembershipServiceStub(channel),
                    seg_grpc.SegmentationServiceStub(segmentation_channel),
                    settings,
                    mint,
                )
