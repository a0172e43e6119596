"""Wiring: settings, migrations, topics, pools, relays, the reservation expiry job, the consumer of order
events that settles reservations, the servicer."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from pingou.catalog.v1 import catalog_pb2_grpc
from pydantic import Field

from libs.core import BusinessLine
from libs.core.paging import PageTokens
from libs.database import close_pools, create_line_pools, migrate_service
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import IdempotentConsumer, ensure_topics, line_relays, topic_name
from libs.grpckit import GrpcApp
from libs.grpckit.server import Worker
from libs.jobs import MIGRATIONS as JOB_MIGRATIONS
from libs.jobs import run_batches
from libs.logs import get_logger
from libs.settings import PageTokenKeyFile, ServiceNames, ServiceSettings
from services.catalog.adapters.repository import SHARED
from services.catalog.entrypoints.access import ACCESS
from services.catalog.entrypoints.consumers import order_handlers
from services.catalog.entrypoints.grpc_api import CatalogServicer
from services.catalog.entrypoints.jobs import EXPIRY_BATCH, expire_reservations
from services.catalog.entrypoints.validation import MULTILINE_FIELDS, SERVICE, VALIDATORS
from services.catalog.service_layer import inventory
from services.catalog.service_layer.unit_of_work import INVENTORY_AGGREGATE, LISTING_AGGREGATE

NAME = "catalog"
HERE = Path(__file__).resolve().parent
# migrations/line/ goes into each line's schema; migrations/shared/, where there is one, into the schema both
# lines share.
LINE_MIGRATIONS = [EVENT_MIGRATIONS, JOB_MIGRATIONS, HERE / "migrations" / "line"]
SHARED_MIGRATIONS = [HERE / "migrations" / "shared"]
ORDER_AGGREGATE = "order"  # the order service's events, `<line>.order.v1`
log = get_logger(__name__)


class CatalogSettings(ServiceSettings):
    service_name: str = NAME
    page_token_key_file: PageTokenKeyFile  # signs SearchListings' page tokens
    # How often the expiry job looks for reservations whose hold ran out.
    reservation_expiry_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Which services (token subjects) may lease and return stock: a `service` role alone is not enough,
    # since every service holds one (named by the access rules, entrypoints/access.py).
    lease_callers: ServiceNames = frozenset({"groupbuy"})
    # Who may reserve, commit and release stock for orders.
    reservation_callers: ServiceNames = frozenset({"order"})


def migrate_all(settings: CatalogSettings) -> None:
    migrate_service(
        settings.database_url,
        NAME,
        lines=BusinessLine,
        line_sources=LINE_MIGRATIONS,
        shared_schema=SHARED,
        shared_sources=SHARED_MIGRATIONS,
    )


async def build_app(settings: CatalogSettings) -> GrpcApp:
    lines = sorted(settings.served_lines)
    await asyncio.to_thread(migrate_all, settings)
    prefix = settings.kafka_topic_prefix
    topics = [
        topic_name(line, aggregate, prefix=prefix)
        for line in lines
        for aggregate in (LISTING_AGGREGATE, INVENTORY_AGGREGATE, ORDER_AGGREGATE)
    ]
    await ensure_topics(settings.kafka_bootstrap_servers, topics, replication_factor=settings.kafka_replication_factor)
    pools = await create_line_pools(
        settings.database_url, service=NAME, lines=lines, max_size=settings.database_pool_size
    )
    relays = line_relays(
        settings.database_url, service=NAME, lines=lines, bootstrap_servers=settings.kafka_bootstrap_servers
    )
    workers: list[Worker] = [relay.run for relay in relays]
    for line in lines:
        expire = partial(expire_reservations, pools[line], line, prefix=prefix)
        poll = settings.reservation_expiry_poll_seconds
        workers.append(
            partial(run_batches, expire, job=inventory.RESERVATION_EXPIRY, batch_size=EXPIRY_BATCH, poll_seconds=poll)
        )
        consumer = IdempotentConsumer(
            name=f"{prefix}{NAME}-reservations-{line}",
            pool=pools[line],
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=[topic_name(line, ORDER_AGGREGATE, prefix=prefix)],
            handlers=order_handlers(line, topic_prefix=prefix),
        )
        workers.append(consumer.run)

    servicer = CatalogServicer(
        pools=pools,
        topic_prefix=prefix,
        page_tokens=PageTokens.from_file(settings.page_token_key_file, service=NAME),
    )
    return GrpcApp(
        name=NAME,
        register=lambda server: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        validators=VALIDATORS,
        access=ACCESS,
        multiline_fields=MULTILINE_FIELDS,
        workers=workers,
        on_stop=[lambda: close_pools(pools)],
    )
