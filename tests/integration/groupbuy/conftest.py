"""Groupbuy with every service it works with (catalog, segmentation, membership, order), all served
in-process on one fresh database per test module, with their relays, consumers and durable jobs.

A module may override `groupbuy_options` (module scope) to change groupbuy's settings, e.g. a short hold.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from google.protobuf.message import Message
from pingou.catalog.v1 import catalog_pb2 as catalog_pb
from pingou.groupbuy.v1 import events_pb2 as events
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.groupbuy.v1 import groupbuy_pb2_grpc as pb_grpc
from pingou.order.v1 import order_pb2 as order_pb
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from libs.events import topic_name
from libs.grpckit import open_channel, service_token_metadata
from libs.grpckit.server import RunningServer
from services.groupbuy.bootstrap import GroupbuySettings
from services.groupbuy.bootstrap import build_app as build_groupbuy
from tests.conftest import Infra, Mint
from tests.integration.order.conftest import Shop, running_shop
from tests.support.database import count, fetch
from tests.support.kafka import published_events
from tests.support.waiting import eventually

PINGOU = BusinessLine.PINGOU
SCHEMA = "groupbuy_pingou"
GROUP_EVENTS: tuple[type[Message], ...] = (
    events.GroupOpened,
    events.SeatHeld,
    events.SeatPaid,
    events.SeatReleased,
    events.GroupCompleted,
    events.GroupFailed,
    events.GroupFlagged,
)
# What a refused call must leave as it was (not the outbox: the relay drains it meanwhile).
GROUPBUY_TABLES = ("groups", "seats", "user_sku_groups", "daily_opens", "new_user_claims")


@dataclass
class Platform:
    groupbuy: pb_grpc.GroupbuyServiceStub
    shop: Shop  # the order service and the rest, with their helpers
    settings: GroupbuySettings
    mint: Mint
    server: RunningServer
    ports: dict[str, int] = field(default_factory=dict)  # where each service of the platform answers

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    def as_user(self, user_id: str) -> list[tuple[str, str]]:
        return service_token_metadata(self.mint(line=PINGOU, subject=user_id, roles=(Role.USER,)))

    def service(self, line: BusinessLine = PINGOU) -> list[tuple[str, str]]:
        return service_token_metadata(self.mint(line=line, subject="app", roles=(Role.SERVICE,)))

    # --- set-up through the real services

    async def listing(
        self, *, size: int = 3, stock: int = 100, group_price: int = 1590, leader_price: int = 0, **rule: Any
    ) -> str:
        """A fresh SKU listed on pingou with this group rule, and `stock` units."""
        operator = self.shop.token(PINGOU, Role.OPERATOR, subject="ops")
        product = await self.shop.catalog.CreateProduct(
            catalog_pb.CreateProductRequest(
                merchant_id="m-yiwu-goods-trade",
                category_id="daily",
                title=f"拼购商品 {uuid.uuid4().hex[:6]}",
                skus=[catalog_pb.Sku(title="标准")],
            ),
            metadata=operator,
        )
        sku_id: str = product.skus[0].sku_id
        rule = {"window_minutes": 60, "strangers_can_join": True, "auto_match": True, **rule}
        await self.shop.catalog.UpsertListing(
            catalog_pb.UpsertListingRequest(
                line=LINE_TO_PROTO[PINGOU],
                sku_id=sku_id,
                pingou=catalog_pb.PingouPrice(
                    solo_price_minor=group_price + 500,
                    group_price_minor=group_price,
                    leader_price_minor=leader_price,
                    rule=catalog_pb.GroupRule(size=size, **rule),
                ),
            ),
            metadata=operator,
        )
        await self.shop.catalog.SetStock(
            catalog_pb.SetStockRequest(line=LINE_TO_PROTO[PINGOU], sku_id=sku_id, available=stock), metadata=operator
        )
        return sku_id

    async def register(
        self,
        line: BusinessLine = PINGOU,
        *,
        phone: str | None = None,
        unionid: str | None = None,
        city: str = "临沂",
        channel: seg_pb.Channel.ValueType = seg_pb.CHANNEL_WECHAT_MINI_PROGRAM,
    ) -> str:
        request = seg_pb.RegisterUserRequest(city=city, channel=channel)
        if phone is not None:
            request.identities.append(seg_pb.ExternalIdentity(kind=seg_pb.IDENTITY_KIND_PHONE, value=phone))
        if unionid is not None:
            request.identities.append(seg_pb.ExternalIdentity(kind=seg_pb.IDENTITY_KIND_WECHAT_UNIONID, value=unionid))
        user = await self.shop.segmentation.RegisterUser(
            request, metadata=self.shop.token(line, Role.SERVICE, subject="accounts")
        )
        return str(user.user_id)

    # --- groupbuy calls, as the buyer

    @staticmethod
    def buyer(user_id: str, key: str | None = None) -> pb.Buyer:
        return pb.Buyer(
            user_id=user_id,
            shipping_city="菏泽",
            channel=order_pb.CHANNEL_WECHAT_MINI_PROGRAM,
            idempotency_key=key or uuid.uuid4().hex,
        )

    async def open(self, user_id: str, sku_id: str, *, key: str | None = None) -> pb.SeatResult:
        result: pb.SeatResult = await self.groupbuy.OpenGroup(
            pb.OpenGroupRequest(buyer=self.buyer(user_id, key), sku_id=sku_id), metadata=self.as_user(user_id)
        )
        return result

    async def join(
        self, user_id: str, *, group_id: str | None = None, invite_code: str | None = None, key: str | None = None
    ) -> pb.SeatResult:
        request = pb.JoinGroupRequest(buyer=self.buyer(user_id, key))
        if invite_code is not None:
            request.invite_code = invite_code
        else:
            assert group_id is not None
            request.group_id = group_id
        result: pb.SeatResult = await self.groupbuy.JoinGroup(request, metadata=self.as_user(user_id))
        return result

    async def auto_match(self, user_id: str, sku_id: str) -> pb.SeatResult:
        result: pb.SeatResult = await self.groupbuy.AutoMatch(
            pb.AutoMatchRequest(buyer=self.buyer(user_id), sku_id=sku_id), metadata=self.as_user(user_id)
        )
        return result

    async def get_group(self, group_id: str) -> pb.Group:
        group: pb.Group = await self.groupbuy.GetGroup(pb.GetGroupRequest(group_id=group_id), metadata=self.service())
        return group

    async def restart_groupbuy(self) -> None:
        """Stop the service (SIGTERM-like: drain, stop workers, close pools) and start a new one on the same
        port, as a deploy or a crash-and-restart would."""
        await self.stop_groupbuy()
        await self.start_groupbuy_again()

    async def pay(self, result: pb.SeatResult) -> order_pb.Order:
        return await self.shop.pay(result.order)

    async def group_state(self, group_id: str) -> pb.GroupState.ValueType:
        return (await self.get_group(group_id)).state

    # --- time travel and what was written

    async def end_window(self, group_id: str, *, unpaid_too: bool = True) -> None:
        """The group's window ended a moment ago (as if it had been opened a day earlier), and its held seats'
        payment time, which never outlasts the window, ended long enough before it that no payment of theirs
        can still be confirmed in time. With `unpaid_too`, so did the payment time of the group's unpaid
        orders: the order service cancels them."""
        await self.fetch(
            f"""UPDATE {SCHEMA}.groups SET opened_at = opened_at - interval '1 day',
            expires_at = now() - interval '1 second' WHERE group_id = $1""",  # noqa: S608  -- a fixed schema
            uuid.UUID(group_id),
        )
        await self.fetch(
            f"""UPDATE {SCHEMA}.seats SET pay_by = least(pay_by, now() - interval '1 second' - $2::interval)
            WHERE group_id = $1 AND state = 'held'""",  # noqa: S608  -- a fixed schema
            uuid.UUID(group_id),
            PAYMENT_CONFIRMATION_GRACE,
        )
        if unpaid_too:
            await self.expire_unpaid_orders(group_id)

    async def expire_unpaid_orders(self, group_id: str) -> None:
        """The payment time of the group's unpaid orders ran out, and so did the grace within which a payment
        made by then may still be confirmed: the order service's payment timeout cancels them."""
        await self.fetch(
            """UPDATE order_pingou.orders SET pay_by = least(pay_by, now() - interval '1 second' - $2::interval)
            WHERE group_id = $1 AND state = 'pending_payment'""",
            group_id,
            PAYMENT_CONFIRMATION_GRACE,
        )

    async def stop_groupbuy(self) -> None:
        """Groupbuy goes down (SIGTERM-like); the other services keep running and publishing."""
        await self.server.stop()
        self.settings = self.settings.model_copy(update={"grpc_port": self.server.port})

    async def start_groupbuy_again(self) -> None:
        self.server = await start_groupbuy(self.settings)

    async def stock(self, sku_id: str) -> tuple[int, int]:
        """(on sale, held) units of the SKU: on sale is catalog's available stock and what groupbuy's
        allotment has left (leased from catalog, in no seat); held is catalog's reservations and the units
        of seats in open groups. A completed group's units are sold: in neither."""
        available, reserved = await self.shop.stock(PINGOU, sku_id)
        in_allotment = await self.count(
            f"SELECT coalesce(sum(available), 0) FROM {SCHEMA}.allotments WHERE sku_id = $1",  # noqa: S608
            sku_id,
        )
        in_seats = await self.count(
            f"""SELECT count(*) FROM {SCHEMA}.seats s JOIN {SCHEMA}.groups g USING (group_id)
            WHERE g.sku_id = $1 AND g.state = 'open' AND s.state <> 'released'""",  # noqa: S608
            sku_id,
        )
        return available + in_allotment, reserved + in_seats

    async def seat_row(self, seat_id: str) -> asyncpg.Record:
        (row,) = await self.fetch(f"SELECT * FROM {SCHEMA}.seats WHERE seat_id = $1", uuid.UUID(seat_id))  # noqa: S608
        return row

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await fetch(self.database_url, sql, *args)

    async def count(self, sql: str, *args: Any) -> int:
        return await count(self.database_url, sql, *args)

    async def counter_drift(self) -> list[asyncpg.Record]:
        """(user, SKU) rows whose per-user counter is not the user's unreleased seats in open groups of the
        SKU (the per-user limit's invariant): empty when the counters are right."""
        return await self.fetch(
            f"""SELECT user_id, sku_id, coalesce(u.active, 0) AS counted, coalesce(c.n, 0) AS actual
            FROM {SCHEMA}.user_sku_groups u
            FULL JOIN (SELECT s.user_id, g.sku_id, count(*)::int AS n FROM {SCHEMA}.seats s
                       JOIN {SCHEMA}.groups g USING (group_id)
                       WHERE g.state = 'open' AND s.state <> 'released' GROUP BY s.user_id, g.sku_id) c
                USING (user_id, sku_id)
            WHERE coalesce(u.active, 0) <> coalesce(c.n, 0)"""  # noqa: S608  -- a fixed schema
        )

    async def row_counts(self) -> tuple[int, ...]:
        """Rows of every groupbuy table and of the order service's orders: what a refused call must not change.
        Counted once every seat taken so far has its order (placed from SeatHeld, a moment after the join)."""

        async def orders_placed() -> bool:
            return not await self.count(
                f"""SELECT count(*) FROM {SCHEMA}.seats s WHERE s.order_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM order_pingou.orders o WHERE o.order_id = s.order_id)"""  # noqa: S608
            )

        await eventually(orders_placed)
        counts = [await self.count(f"SELECT count(*) FROM {SCHEMA}.{table}") for table in GROUPBUY_TABLES]  # noqa: S608
        counts.append(await self.count("SELECT count(*) FROM order_pingou.orders"))
        return tuple(counts)

    async def published(self) -> list[tuple[str, Message]]:
        """Every (group id, event) on the groupbuy topic, once all that committed so far is on Kafka."""
        topic = topic_name(PINGOU, "groupbuy", prefix=self.settings.kafka_topic_prefix)
        return await published_events(
            self.settings.kafka_bootstrap_servers, topic, GROUP_EVENTS, dsn=self.database_url, outbox_schema=SCHEMA
        )

    async def events_of(self, group_id: str) -> list[Message]:
        return [event for key, event in await self.published() if key == group_id]

    async def event_names(self, group_id: str) -> list[str]:
        return [type(event).__name__ for event in await self.events_of(group_id)]


@pytest.fixture(scope="module")
def groupbuy_options() -> dict[str, Any]:
    return {}


def groupbuy_settings(
    common: dict[str, Any], ports: dict[str, int], keys: LocalKeys, options: dict[str, Any]
) -> GroupbuySettings:
    return GroupbuySettings(
        **{
            **common,
            "catalog_address": f"127.0.0.1:{ports['catalog']}",
            "segmentation_address": f"127.0.0.1:{ports['segmentation']}",
            "membership_address": f"127.0.0.1:{ports['membership']}",
            "service_signing_key_file": keys.service_key_file("groupbuy"),
            "jobs_poll_seconds": 0.1,
            "listing_cache_seconds": 0.0,
            "window_grace_seconds": 0.0,
            **options,
        }
    )


async def start_groupbuy(settings: GroupbuySettings) -> RunningServer:
    server = RunningServer(await build_groupbuy(settings), settings)
    await server.start()
    return server


@pytest.fixture(scope="module")
async def platform(
    infra: Infra,
    keys: LocalKeys,
    page_token_key: Path,
    topic_prefix: str,
    mint: Mint,
    groupbuy_options: dict[str, Any],
) -> AsyncIterator[Platform]:
    prefix = f"{topic_prefix}gb{uuid.uuid4().hex[:6]}."
    async with running_shop(infra, keys, mint, page_token_key=page_token_key, prefix=prefix) as running:
        settings = groupbuy_settings(running.common, running.ports, keys, groupbuy_options)
        groupbuy = await start_groupbuy(settings)
        async with open_channel(f"127.0.0.1:{groupbuy.port}", default_timeout=30) as channel:
            ports = {**running.ports, "groupbuy": groupbuy.port}
            platform = Platform(pb_grpc.GroupbuyServiceStub(channel), running.shop, settings, mint, groupbuy, ports)
            try:
                yield platform
            finally:
                await platform.server.stop()
