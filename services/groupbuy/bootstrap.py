"""Wiring: settings, migrations, topics, the pool, clients of catalog / segmentation / membership, the
allotment, the relay, the consumers of order events and of registrations, the durable jobs and the
servicer. Pingou line only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated

from pingou.groupbuy.v1 import groupbuy_pb2_grpc
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from libs.auth import ServiceCredentials
from libs.core import BusinessLine
from libs.core.paging import PageTokens
from libs.database import close_pools, create_line_pools, migrate_service
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import IdempotentConsumer, ensure_topics, line_relays, topic_name
from libs.grpckit import GrpcApp
from libs.jobs import MIGRATIONS as JOB_MIGRATIONS
from libs.settings import PageTokenKeyFile, PrivateKeyFile, ServiceAddress, ServiceSettings
from services.groupbuy.adapters.catalog import CatalogListings, CatalogStock, open_catalog_channel
from services.groupbuy.adapters.eligibility import (
    ServiceEligibility,
    open_membership_channel,
    open_segmentation_channel,
)
from services.groupbuy.adapters.registry import RegisteredAccounts
from services.groupbuy.entrypoints.access import ACCESS
from services.groupbuy.entrypoints.consumers import USER_AGGREGATE, order_handlers, registry_handlers
from services.groupbuy.entrypoints.grpc_api import GroupbuyServicer
from services.groupbuy.entrypoints.jobs import HoldBackstopJob, IdentityJob, LeaseJob, WindowJob
from services.groupbuy.entrypoints.validation import SERVICE, VALIDATORS
from services.groupbuy.service_layer.context import Context
from services.groupbuy.service_layer.stock import Allotment
from services.groupbuy.service_layer.unit_of_work import GROUP_AGGREGATE, UnitOfWork

NAME = "groupbuy"
HERE = Path(__file__).resolve().parent
# migrations/line/ goes into each line's schema; migrations/shared/, where there is one, into the schema both
# lines share.
LINE_MIGRATIONS = [EVENT_MIGRATIONS, JOB_MIGRATIONS, HERE / "migrations" / "line"]
LINE = BusinessLine.PINGOU


class GroupbuySettings(ServiceSettings):
    service_name: str = NAME
    # Groupbuy is a pingou business: it serves that line only, and refuses mall tokens.
    served_lines: Annotated[frozenset[BusinessLine], NoDecode] = frozenset({LINE})
    catalog_address: ServiceAddress
    segmentation_address: ServiceAddress
    membership_address: ServiceAddress
    service_signing_key_file: PrivateKeyFile
    page_token_key_file: PageTokenKeyFile  # signs ListOpenGroups' and ListUserGroups' page tokens
    hold_minutes: float = Field(default=15.0, gt=0, le=24 * 60)  # the payment time limit of a seat
    # A group fails this long after its window ended, and after its held seats can no longer be paid in
    # time (libs.core.orders): the OrderPaid of a payment confirmed at the last moment is waited for this
    # long; a seat's known order is waited for until its OrderPaid or OrderCancelled comes ...
    window_grace_seconds: float = Field(default=5.0, ge=0, le=600)
    # ... until this long after its window: then those events are taken as lost (a seat that may still be
    # paid in time keeps its group open even so).
    window_fallback_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    hold_backstop_grace_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    daily_open_cap: int = Field(default=20, ge=1, le=10_000)
    listing_cache_seconds: float = Field(default=5.0, ge=0, le=600)
    jobs_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Units of a SKU leased from catalog at a time for the allotment joins take their stock from.
    stock_lease_block: int = Field(default=400, ge=8, le=100_000)

    @field_validator("served_lines")
    @classmethod
    def _pingou_only(cls, value: frozenset[BusinessLine]) -> frozenset[BusinessLine]:
        if value != {LINE}:
            raise ValueError("groupbuy serves the pingou line only")
        return value


def migrate_all(settings: GroupbuySettings) -> None:
    migrate_service(settings.database_url, NAME, lines=[LINE], line_sources=LINE_MIGRATIONS)


async def build_app(settings: GroupbuySettings) -> GrpcApp:
    await asyncio.to_thread(migrate_all, settings)
    prefix = settings.kafka_topic_prefix
    order_topic = topic_name(LINE, "order", prefix=prefix)
    user_topic = topic_name(LINE, USER_AGGREGATE, prefix=prefix)
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        [topic_name(LINE, GROUP_AGGREGATE, prefix=prefix), order_topic, user_topic],
        replication_factor=settings.kafka_replication_factor,
    )
    pools = await create_line_pools(
        settings.database_url, service=NAME, lines=[LINE], max_size=settings.database_pool_size
    )
    pool = pools[LINE]
    credentials = ServiceCredentials.from_file(settings.service_signing_key_file, service=NAME)
    channels = [
        catalog := open_catalog_channel(settings.catalog_address),
        segmentation := open_segmentation_channel(settings.segmentation_address),
        membership := open_membership_channel(settings.membership_address),
    ]
    eligibility = ServiceEligibility(segmentation, membership, credentials, RegisteredAccounts(pool))
    clock = partial(datetime.now, UTC)
    allotment = Allotment(pool, CatalogStock(catalog, credentials), block=settings.stock_lease_block, clock=clock)
    context = Context(
        pool=pool,
        allotment=allotment,
        listings=CatalogListings(catalog, credentials, cache_seconds=settings.listing_cache_seconds),
        eligibility=eligibility,
        topic_prefix=prefix,
        hold=timedelta(minutes=settings.hold_minutes),
        daily_open_cap=settings.daily_open_cap,
        clock=clock,
    )
    uow = partial(UnitOfWork, pool, LINE, topic_prefix=prefix)
    poll = settings.jobs_poll_seconds
    jobs = [
        WindowJob(
            uow,
            poll_seconds=poll,
            grace=timedelta(seconds=settings.window_grace_seconds),
            fallback=timedelta(minutes=settings.window_fallback_minutes),
        ),
        HoldBackstopJob(uow, grace=timedelta(minutes=settings.hold_backstop_grace_minutes), poll_seconds=poll),
        IdentityJob(uow, eligibility, poll_seconds=poll * 5),
        LeaseJob(uow, allotment, poll_seconds=poll * 10),
    ]
    consumer = IdempotentConsumer(
        name=f"{prefix}{NAME}-orders-{LINE}",
        pool=pool,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[order_topic],
        handlers=order_handlers(prefix),
    )
    registrations = IdempotentConsumer(
        name=f"{prefix}{NAME}-users-{LINE}",
        pool=pool,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topics=[user_topic],
        handlers=registry_handlers(),
    )
    relays = line_relays(
        settings.database_url, service=NAME, lines=[LINE], bootstrap_servers=settings.kafka_bootstrap_servers
    )

    async def close() -> None:
        for channel in channels:
            await channel.close()
        await close_pools(pools)

    servicer = GroupbuyServicer(context, page_tokens=PageTokens.from_file(settings.page_token_key_file, service=NAME))
    return GrpcApp(
        name=NAME,
        register=lambda server: groupbuy_pb2_grpc.add_GroupbuyServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        validators=VALIDATORS,
        access=ACCESS,
        workers=[*(relay.run for relay in relays), consumer.run, registrations.run, *(job.run for job in jobs)],
        on_stop=[close],
    )
