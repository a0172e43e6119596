"""The order service with the real services it calls (catalog, membership, and segmentation behind
membership), all served in-process on one fresh database, with their relays, consumers and jobs.

A module may override `order_options` (module scope) to change the order service's settings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from pingou.catalog.v1 import catalog_pb2 as catalog_pb
from pingou.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.membership.v1 import membership_pb2 as membership_pb
from pingou.membership.v1 import membership_pb2_grpc as membership_grpc
from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb
from pingou.order.v1 import order_pb2_grpc as pb_grpc
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb
from pingou.segmentation.v1 import segmentation_pb2_grpc as seg_grpc
from pydantic import SecretStr

from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine, user_line
from libs.database import schema_name
from libs.events import topic_name
from libs.grpckit import open_channel, service_token_metadata
from libs.grpckit.errors import reason_of
from services.catalog.bootstrap import CatalogSettings
from services.catalog.bootstrap import build_app as build_catalog
from services.catalog.demo import seed_if_empty
from services.membership.bootstrap import MembershipSettings
from services.membership.bootstrap import build_app as build_membership
from services.order.bootstrap import OrderSettings
from services.order.bootstrap import build_app as build_order
from services.order.domain.model import line_of
from services.segmentation.bootstrap import SegmentationSettings
from services.segmentation.bootstrap import build_app as build_segmentation
from tests.conftest import Infra, Mint, fresh_database
from tests.support.catalog import listed_sku
from tests.support.database import count, fetch
from tests.support.kafka import publish_events, published_events
from tests.support.notes import running_app

ORDER_EVENTS: tuple[type[Message], ...] = (
    events.OrderPlaced,
    events.OrderPaid,
    events.OrderAwaitingGroup,
    events.OrderGroupCompleted,
    events.OrderShipped,
    events.OrderDelivered,
    events.OrderCancelled,
    events.OrderRefunding,
    events.OrderRefunded,
    events.PaymentRejected,
    events.RefundRequested,
    events.RefundSucceeded,
    events.RefundFailed,
)
# What a refused call must leave as it was (the outbox is drained by the relay meanwhile, so it is not
# counted; a refused call's events would show on the topic instead).
ORDER_TABLES = ("orders", "order_items", "payment_confirmations", "refunds", "idempotency_keys")


def status_of(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str | None]:
    return error.code(), reason_of(error)


@dataclass
class Shop:
    orders: pb_grpc.OrderServiceStub
    catalog: catalog_grpc.CatalogServiceStub
    membership: membership_grpc.MembershipServiceStub
    segmentation: seg_grpc.SegmentationServiceStub
    settings: OrderSettings
    mint: Mint

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def prefix(self) -> str:
        return self.settings.kafka_topic_prefix

    def token(self, line: BusinessLine, *roles: Role, subject: str = "checkout") -> list[tuple[str, str]]:
        return service_token_metadata(self.mint(line=line, subject=subject, roles=roles or (Role.SERVICE,)))

    def as_user(self, user_id: str) -> list[tuple[str, str]]:
        return self.token(user_line(user_id), Role.USER, subject=user_id)

    def service(self, line: BusinessLine) -> list[tuple[str, str]]:
        return self.token(line, Role.SERVICE)

    def as_order_service(self, line: BusinessLine) -> list[tuple[str, str]]:
        """The order service's own token: what catalog's reservations accept (RESERVATION_CALLERS)."""
        return self.token(line, Role.SERVICE, subject="order")

    def payments(self, line: BusinessLine) -> list[tuple[str, str]]:
        """The payment provider's adapter (a caller named in PAYMENT_CALLERS)."""
        return self.token(line, Role.SERVICE, subject="payments")

    # --- set-up through the real services

    async def new_sku(
        self, line: BusinessLine, *, stock: int, price: int = 1990, plus_price: int = 0, group_price: int = 1590
    ) -> str:
        """A fresh product with one SKU, listed on `line` with `stock` available."""
        operator = self.token(line, Role.OPERATOR, subject="ops")
        return await listed_sku(
            self.catalog, operator, line, stock=stock, price=price, plus_price=plus_price, group_price=group_price
        )

    async def stock(self, line: BusinessLine, sku_id: str) -> tuple[int, int]:
        """(available, reserved) of the SKU on the line."""
        reply = await self.catalog.GetStock(
            catalog_pb.GetStockRequest(line=LINE_TO_PROTO[line], sku_id=sku_id), metadata=self.service(line)
        )
        return reply.available, reply.reserved

    async def register(self, line: BusinessLine) -> str:
        user = await self.segmentation.RegisterUser(
            seg_pb.RegisterUserRequest(city="临沂", channel=seg_pb.CHANNEL_WECHAT_MINI_PROGRAM),
            metadata=self.token(line, Role.SERVICE, subject="accounts"),
        )
        return str(user.user_id)

    async def buy_trial(self, user_id: str) -> None:
        await self.membership.Purchase(
            membership_pb.PurchaseRequest(
                user_id=user_id,
                plan=membership_events.PLAN_TRIAL,
                payment_reference=f"trial-{uuid.uuid4().hex}",
                amount_paid_minor=0,
                currency="CNY",
            ),
            metadata=self.payments(user_line(user_id)),
        )

    # --- orders

    async def place_mall(
        self, user_id: str, items: Sequence[tuple[str, int]], *, key: str | None = None, **options: Any
    ) -> pb.Order:
        request = pb.PlaceMallOrderRequest(
            idempotency_key=key or uuid.uuid4().hex,
            user_id=user_id,
            items=[pb.LineItem(sku_id=sku_id, quantity=quantity) for sku_id, quantity in items],
            shipping_city=options.pop("city", "临沂"),
            channel=options.pop("channel", pb.CHANNEL_MALL_APP),
        )
        stub = options.pop("stub", self.orders)
        order: pb.Order = await stub.PlaceMallOrder(request, metadata=options.pop("metadata", self.as_user(user_id)))
        return order

    async def place_group(
        self, user_id: str, sku_id: str, group_id: str, *, price: int = 1590, leader: bool = False, **fields: Any
    ) -> pb.Order:
        request = pb.PlaceGroupOrderRequest(
            idempotency_key=fields.pop("key", f"seat-{uuid.uuid4().hex}"),
            user_id=user_id,
            sku_id=sku_id,
            group_id=group_id,
            group_leader=leader,
            unit_price_minor=price,
            shipping_city="菏泽",
            channel=pb.CHANNEL_WECHAT_MINI_PROGRAM,
            **fields,
        )
        groupbuy = self.token(BusinessLine.PINGOU, Role.SERVICE, subject="groupbuy")
        order: pb.Order = await self.orders.PlaceGroupOrder(request, metadata=groupbuy)
        return order

    async def pay(self, order: pb.Order, *, reference: str | None = None, amount: int | None = None) -> pb.Order:
        paid: pb.Order = await self.orders.ConfirmPayment(
            self.payment(order, reference=reference, amount=amount),
            metadata=self.payments(line_of(order.order_id, field="order_id")),
        )
        return paid

    def payment(
        self, order: pb.Order, *, reference: str | None = None, amount: int | None = None
    ) -> pb.ConfirmPaymentRequest:
        return pb.ConfirmPaymentRequest(
            order_id=order.order_id,
            intent_id=order.payment.intent_id,
            payment_reference=reference or f"wx-{uuid.uuid4().hex}",
            amount_minor=order.total_minor if amount is None else amount,
            currency="CNY",
        )

    async def get(self, order_id: str) -> pb.Order:
        order: pb.Order = await self.orders.GetOrder(
            pb.GetOrderRequest(order_id=order_id), metadata=self.service(line_of(order_id, field="order_id"))
        )
        return order

    async def state_of(self, order_id: str) -> pb.OrderState.ValueType:
        return (await self.get(order_id)).state

    # --- groupbuy's events, published as groupbuy's relay would

    async def publish_group_event(self, group_id: str, payload: Message, event_id: uuid.UUID | None = None) -> None:
        topic = topic_name(BusinessLine.PINGOU, "groupbuy", prefix=self.prefix)
        await publish_events(
            self.settings.kafka_bootstrap_servers, topic, [(group_id, payload, event_id)], line=BusinessLine.PINGOU
        )

    # --- what was written and published

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await fetch(self.database_url, sql, *args)

    async def count(self, sql: str, *args: Any) -> int:
        return await count(self.database_url, sql, *args)

    async def row_counts(self) -> tuple[int, ...]:
        tables = [f"{schema_name('order', line)}.{table}" for line in BusinessLine for table in ORDER_TABLES]
        return tuple([await self.count(f"SELECT count(*) FROM {table}") for table in tables])  # noqa: S608

    async def published(self, line: BusinessLine) -> list[tuple[str, Message]]:
        """Every (key, event) on the line's order topic, once all that committed so far is on Kafka."""
        topic = topic_name(line, "order", prefix=self.prefix)
        return await published_events(
            self.settings.kafka_bootstrap_servers,
            topic,
            ORDER_EVENTS,
            dsn=self.database_url,
            outbox_schema=schema_name("order", line),
        )

    async def events_of(self, order_id: str) -> list[Message]:
        """The order's events in the order they were published (one key, one partition)."""
        line = line_of(order_id, field="order_id")
        return [event for key, event in await self.published(line) if key == order_id]

    async def event_names(self, order_id: str) -> list[str]:
        return [type(event).__name__ for event in await self.events_of(order_id)]


def order_settings(
    common: dict[str, Any], *, catalog_port: int, membership_port: int, keys: LocalKeys, **options: Any
) -> OrderSettings:
    defaults: dict[str, Any] = {"jobs_poll_seconds": 0.1, "refund_retry_base_seconds": 0.5, "refund_max_attempts": 3}
    return OrderSettings(
        **common,
        catalog_address=f"127.0.0.1:{catalog_port}",
        membership_address=f"127.0.0.1:{membership_port}",
        service_signing_key_file=keys.service_key_file("order"),
        **(defaults | options),
    )


@dataclass
class ShopProcesses:
    """A running shop and what a service added on top of it needs: the common settings and the ports."""

    shop: Shop
    common: dict[str, Any]
    ports: dict[str, int]


@asynccontextmanager
async def running_shop(
    infra: Infra,
    keys: LocalKeys,
    mint: Mint,
    *,
    page_token_key: Path,
    prefix: str,
    order_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[ShopProcesses]:
    """Segmentation, catalog (with its demo merchants and categories), membership and order, in-process on
    one fresh database, with topics under `prefix` (and the order service's settings changed by
    `order_options`)."""
    async with fresh_database(infra) as database_url:
        common: dict[str, Any] = {
            "grpc_port": 0,
            "database_url": database_url,
            "kafka_bootstrap_servers": infra.kafka_bootstrap,
            "jwt_key_set_file": keys.key_set_file,
            "page_token_key_file": page_token_key,
            "kafka_topic_prefix": prefix,
            "database_pool_size": 20,
        }
        segmentation_settings = SegmentationSettings(
            **common, identity_link_salt=SecretStr("salt-for-tests-0123456789")
        )
        catalog_settings = CatalogSettings(**common, reservation_expiry_poll_seconds=0.2)
        async with (
            running_app(build_segmentation, segmentation_settings) as segmentation,
            running_app(build_catalog, catalog_settings) as catalog,
        ):
            await seed_if_empty(database_url, topic_prefix=prefix)  # merchants and categories
            membership_settings = MembershipSettings(
                **common,
                segmentation_address=f"127.0.0.1:{segmentation.port}",
                service_signing_key_file=keys.service_key_file("membership"),
            )
            async with running_app(build_membership, membership_settings) as membership:
                settings = order_settings(
                    common,
                    catalog_port=catalog.port,
                    membership_port=membership.port,
                    keys=keys,
                    **(order_options or {}),
                )
                async with (
                    running_app(build_order, settings) as order,
                    open_channel(f"127.0.0.1:{order.port}", default_timeout=30) as order_channel,
                    open_channel(f"127.0.0.1:{catalog.port}", default_timeout=30) as catalog_channel,
                    open_channel(f"127.0.0.1:{membership.port}", default_timeout=30) as membership_channel,
                    open_channel(f"127.0.0.1:{segmentation.port}", default_timeout=30) as segmentation_channel,
                ):
                    shop = Shop(
                        pb_grpc.OrderServiceStub(order_channel),
                        catalog_grpc.CatalogServiceStub(catalog_channel),
                        membership_grpc.MembershipServiceStub(membership_channel),
                        seg_grpc.SegmentationServiceStub(segmentation_channel),
                        settings,
                        mint,
                    )
                    ports = {
                        "catalog": catalog.port,
                        "order": order.port,
                        "segmentation": segmentation.port,
                        "membership": membership.port,
                    }
                    yield ShopProcesses(shop, common, ports)


@pytest.fixture(scope="module")
def order_options() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
async def shop(
    infra: Infra, keys: LocalKeys, page_token_key: Path, topic_prefix: str, mint: Mint, order_options: dict[str, Any]
) -> AsyncIterator[Shop]:
    prefix = f"{topic_prefix}shop{uuid.uuid4().hex[:6]}."
    async with running_shop(
        infra, keys, mint, page_token_key=page_token_key, prefix=prefix, order_options=order_options
    ) as running:
        yield running.shop
