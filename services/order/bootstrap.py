"""Wiring: settings, migrations, topics, pools, the catalog and membership clients, relays, the consumer
of groupbuy's events (seats' orders and groups' outcomes), the durable jobs and the servicer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from pathlib import Path

from pingou.order.v1 import order_pb2_grpc
from pydantic import Field

from libs.auth import ServiceCredentials
from libs.core import BusinessLine
from libs.core.paging import PageTokens
from libs.database import close_pools, create_line_pools, migrate_service
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import IdempotentConsumer, ensure_topics, line_relays, topic_name
from libs.grpckit import GrpcApp
from libs.jobs import MIGRATIONS as JOB_MIGRATIONS
from libs.jobs import run_batches
from libs.settings import PageTokenKeyFile, PrivateKeyFile, ServiceAddress, ServiceNames, ServiceSettings
from services.order.adapters.catalog import Catalog, open_catalog_channel
from services.order.adapters.membership import Membership, open_membership_channel
from services.order.entrypoints.access import ACCESS
from services.order.entrypoints.consumers import group_handlers, stock_handlers
from services.order.entrypoints.grpc_api import OrderServicer
from services.order.entrypoints.jobs import OrderJobs
from services.order.entrypoints.validation import MULTILINE_FIELDS, SERVICE, VALIDATORS
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import ORDER_AGGREGATE, UnitOfWork

NAME = "order"
HERE = Path(__file__).resolve().parent
# migrations/line/ goes into each line's schema; migrations/shared/, where there is one, into the schema both
# lines share.
LINE_MIGRATIONS = [EVENT_MIGRATIONS, JOB_MIGRATIONS, HERE / "migrations" / "line"]
GROUP_AGGREGATE = "groupbuy"  # groupbuy's events on `pingou.groupbuy.v1`
INVENTORY_AGGREGATE = "inventory"  # catalog's stock events on `<line>.inventory.v1`


class OrderSettings(ServiceSettings):
    service_name: str = NAME
    page_token_key_file: PageTokenKeyFile  # signs ListUserOrders' and ListOrdersByState's page tokens
    catalog_address: ServiceAddress
    membership_address: ServiceAddress
    service_signing_key_file: PrivateKeyFile
    # Which services (token subjects) may place group orders, and may speak for the payment provider:
    # a `service` role alone is not enough, since every service holds one.
    group_order_callers: ServiceNames = frozenset({"groupbuy"})
    payment_callers: ServiceNames = frozenset({"payments"})
    payment_limit_seconds: int = Field(default=900, ge=60, le=86_400)
    refund_retry_base_seconds: float = Field(default=30.0, gt=0, le=86_400)
    refund_max_attempts: int = Field(default=8, ge=1, le=100)
    jobs_poll_seconds: float = Field(default=2.0, gt=0, le=3600)
    jobs_batch_size: int = Field(default=200, ge=1, le=10_000)
    membership_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    membership_cache_users: int = Field(default=100_000, ge=1)
    order_placement_wait_seconds: float = Field(default=2.0, ge=0, le=30)

    def policy(self) -> OrderPolicy:
        return OrderPolicy(
            payment_limit=timedelta(seconds=self.payment_limit_seconds),
            refund_retry_base=timedelta(seconds=self.refund_retry_base_seconds),
            refund_max_attempts=self.refund_max_attempts,
            placement_wait=timedelta(seconds=self.order_placement_wait_seconds),
        )


def migrate_all(settings: OrderSettings) -> None:
    migrate_service(settings.database_url, NAME, lines=sorted(settings.served_lines), line_sources=LINE_MIGRATIONS)


async def build_app(settings: OrderSettings) -> GrpcApp:
    lines = sorted(settings.served_lines)
    await asyncio.to_thread(migrate_all, settings)
    prefix = settings.kafka_topic_prefix
    policy = settings.policy()
    topics = [
        topic_name(line, aggregate, prefix=prefix)
        for line in lines
        for aggregate in (ORDER_AGGREGATE, INVENTORY_AGGREGATE)
    ]
    group_topic = topic_name(BusinessLine.PINGOU, GROUP_AGGREGATE, prefix=prefix)
    if BusinessLine.PINGOU in lines:
        topics.append(group_topic)
    await ensure_topics(settings.kafka_bootstrap_servers, topics, replication_factor=settings.kafka_replication_factor)
    pools = await create_line_pools(
        settings.database_url, service=NAME, lines=lines, max_size=settings.database_pool_size
    )
    workers = [
        relay.run
        for relay in line_relays(
            settings.database_url, service=NAME, lines=lines, bootstrap_servers=settings.kafka_bootstrap_servers
        )
    ]
    for line in lines:
        jobs = OrderJobs(
            partial(UnitOfWork, pools[line], line, topic_prefix=prefix),
            policy=policy,
            batch_size=settings.jobs_batch_size,
        )
        poll = settings.jobs_poll_seconds
        for job, batch in jobs.batches():
            workers.append(partial(run_batches, batch, job=job, batch_size=jobs.batch_size, poll_seconds=poll))
        stock_consumer = IdempotentConsumer(
            name=f"{prefix}{NAME}-stock-{line}",
            pool=pools[line],
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[topic_name(line, INVENTORY_AGGREGATE, prefix=prefix)],
            handlers=stock_handlers(line, topic_prefix=prefix, policy=policy),
        )
        workers.append(stock_consumer.run)
    if BusinessLine.PINGOU in lines:
        # One consumer for all of groupbuy's events: a seat's SeatHeld (its order is placed) comes before its
        # group's GroupCompleted / GroupFailed on the same partition (key: group id), and one consumer
        # handles them in that order. Its name (the consumer group and inbox scope) predates SeatHeld and
        # stays, so its committed offsets and inbox carry over.
        consumer = IdempotentConsumer(
            name=f"{prefix}{NAME}-group-outcomes",
            pool=pools[BusinessLine.PINGOU],
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[group_topic],
            handlers=group_handlers(topic_prefix=prefix, policy=policy),
        )
        workers.append(consumer.run)

    credentials = ServiceCredentials.from_file(settings.service_signing_key_file, service=NAME)
    catalog_channel = open_catalog_channel(settings.catalog_address)
    membership_channel = open_membership_channel(settings.membership_address)

    async def close() -> None:
        await catalog_channel.close()
        await membership_channel.close()
        await close_pools(pools)

    servicer = OrderServicer(
        pools=pools,
        catalog=Catalog(catalog_channel, credentials),
        membership=Membership(
            membership_channel,
            credentials,
            ttl_seconds=settings.membership_cache_seconds,
            max_users=settings.membership_cache_users,
        ),
        topic_prefix=prefix,
        policy=policy,
        page_tokens=PageTokens.from_file(settings.page_token_key_file, service=NAME),
    )
    return GrpcApp(
        name=NAME,
        register=lambda server: order_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        validators=VALIDATORS,
        access=ACCESS,
        multiline_fields=MULTILINE_FIELDS,
        workers=workers,
        on_stop=[close],
    )
