"""Wiring: settings, migrations, topics, pools, the consumers of both lines, the link lookup job, the
segmentation client and the servicer."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from pingou.analytics.v1 import analytics_pb2_grpc
from pydantic import Field

from libs.auth import ServiceCredentials
from libs.core import BusinessLine
from libs.core.cities import DEFAULT_FILE, CityTiers
from libs.database import close_pools, create_line_pools, migrate_service
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import IdempotentConsumer, ensure_topics, topic_name
from libs.grpckit import GrpcApp
from libs.jobs import MIGRATIONS as JOB_MIGRATIONS
from libs.settings import PrivateKeyFile, ServiceAddress, ServiceSettings
from services.analytics.adapters.kafka_positions import KafkaPositions
from services.analytics.adapters.kpi_queries import KpiQueries
from services.analytics.adapters.repository import IDENTITY_SCHEMA
from services.analytics.adapters.segmentation import SegmentationLinks, open_segmentation_channel
from services.analytics.entrypoints.access import ACCESS
from services.analytics.entrypoints.consumers import fact_handlers
from services.analytics.entrypoints.grpc_api import AnalyticsServicer
from services.analytics.entrypoints.jobs import LinkLookupJob
from services.analytics.entrypoints.validation import SERVICE, VALIDATORS
from services.analytics.service_layer.unit_of_work import UnitOfWork

NAME = "analytics"
HERE = Path(__file__).resolve().parent
# migrations/line/ goes into each line's schema; migrations/shared/, where there is one, into the schema both
# lines share.
LINE_MIGRATIONS = [EVENT_MIGRATIONS, JOB_MIGRATIONS, HERE / "migrations" / "line"]
SHARED_MIGRATIONS = [HERE / "migrations" / "shared"]


class AnalyticsSettings(ServiceSettings):
    service_name: str = NAME
    # Where segmentation answers GetLinkedAccounts (host:port): who is new to the company needs the links.
    segmentation_address: ServiceAddress
    service_signing_key_file: PrivateKeyFile
    city_tiers_file: Path = DEFAULT_FILE
    link_lookup_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    link_lookup_batch_size: int = Field(default=50, ge=1, le=10_000)


def consumed_topics(line: BusinessLine, prefix: str) -> list[str]:
    """Every topic of the line that carries a KPI's events: orders, PLUS, users' identity links and (pingou)
    groups."""
    aggregates = ["order", "membership", "user"] + (["groupbuy"] if line is BusinessLine.PINGOU else [])
    return [topic_name(line, aggregate, prefix=prefix) for aggregate in aggregates]


def consumer_group(prefix: str) -> str:
    """One consumer group for both lines: each line's consumer reads that line's topics into its schema."""
    return f"{prefix}{NAME}"


def migrate_all(settings: AnalyticsSettings) -> None:
    # Both lines' schemas and the link table always exist: new-to-company reads across them.
    migrate_service(
        settings.database_url,
        NAME,
        lines=BusinessLine,
        line_sources=LINE_MIGRATIONS,
        shared_schema=IDENTITY_SCHEMA,
        shared_sources=SHARED_MIGRATIONS,
    )


async def build_app(settings: AnalyticsSettings) -> GrpcApp:
    lines = sorted(settings.served_lines)
    await asyncio.to_thread(migrate_all, settings)
    prefix, group = settings.kafka_topic_prefix, consumer_group(settings.kafka_topic_prefix)
    topics = {line: consumed_topics(line, prefix) for line in lines}
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        [topic for line in lines for topic in topics[line]],
        replication_factor=settings.kafka_replication_factor,
    )
    pools = await create_line_pools(
        settings.database_url, service=NAME, lines=lines, max_size=settings.database_pool_size
    )
    cities = CityTiers.load(settings.city_tiers_file)
    segmentation = open_segmentation_channel(settings.segmentation_address)
    credentials = ServiceCredentials.from_file(settings.service_signing_key_file, service=NAME)
    links = SegmentationLinks(segmentation, credentials)
    positions = KafkaPositions(settings.kafka_bootstrap_servers, group=group)
    workers = []
    for line in lines:
        handlers, apply_together = fact_handlers(line, cities=cities, group=group)
        consumer = IdempotentConsumer(
            name=group,
            pool=pools[line],
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=topics[line],
            handlers=handlers,
            apply_together=apply_together,
        )
        job = LinkLookupJob(
            partial(UnitOfWork, pools[line], line, topic_prefix=prefix),
            links,
            poll_seconds=settings.link_lookup_poll_seconds,
            batch_size=settings.link_lookup_batch_size,
        )
        workers += [consumer.run, job.run]

    async def close() -> None:
        await positions.close()
        await segmentation.close()
        await close_pools(pools)

    servicer = AnalyticsServicer(
        sources={line: KpiQueries(pools[line], line) for line in lines}, positions=positions, topics=topics
    )
    return GrpcApp(
        name=NAME,
        register=lambda server: analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        validators=VALIDATORS,
        access=ACCESS,
        workers=workers,
        on_stop=[close],
    )
