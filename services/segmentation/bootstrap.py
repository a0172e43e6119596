"""Wiring: settings, migrations, topics, pools, relays, consumers and the gRPC servicer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pingou.segmentation.v1 import segmentation_pb2_grpc
from pydantic import Field, SecretStr

from libs.core import BusinessLine
from libs.core.cities import DEFAULT_FILE, CityTiers
from libs.core.paging import PageTokens
from libs.database import close_pools, create_line_pools, migrate_service
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import IdempotentConsumer, ensure_topics, line_relays, topic_name
from libs.grpckit import GrpcApp
from libs.settings import PageTokenKeyFile, ServiceNames, ServiceSettings
from services.segmentation.adapters.rules_sql import IDENTITY_SCHEMA
from services.segmentation.entrypoints.access import ACCESS
from services.segmentation.entrypoints.consumers import profile_handlers
from services.segmentation.entrypoints.grpc_api import SegmentationServicer
from services.segmentation.entrypoints.validation import SERVICE, VALIDATORS
from services.segmentation.service_layer.unit_of_work import USER_AGGREGATE

NAME = "segmentation"
HERE = Path(__file__).resolve().parent
# migrations/line/ goes into each line's schema; migrations/shared/, where there is one, into the schema both
# lines share.
LINE_MIGRATIONS = [EVENT_MIGRATIONS, HERE / "migrations" / "line"]
SHARED_MIGRATIONS = [HERE / "migrations" / "shared"]


class SegmentationSettings(ServiceSettings):
    service_name: str = NAME
    # The salt of identity-link hashes: the same on every instance of both lines, secret, never rotated
    # without re-linking (a new salt makes old links unmatchable).
    identity_link_salt: SecretStr = Field(min_length=16)
    city_tiers_file: Path = DEFAULT_FILE
    page_token_key_file: PageTokenKeyFile  # signs ListSegmentMembers' page tokens
    # Which services (token subjects) may register users, change profiles and link identities: the
    # account system that signs people up (operators may too).
    registry_callers: ServiceNames = frozenset({"accounts"})


def consumed_topics(line: BusinessLine, prefix: str) -> list[str]:
    aggregates = ["order", "membership"] + (["groupbuy"] if line is BusinessLine.PINGOU else [])
    return [topic_name(line, aggregate, prefix=prefix) for aggregate in aggregates]


def migrate_all(settings: SegmentationSettings) -> None:
    # Both lines' schemas and the link table always exist: new-to-company reads across them.
    migrate_service(
        settings.database_url,
        NAME,
        lines=BusinessLine,
        line_sources=LINE_MIGRATIONS,
        shared_schema=IDENTITY_SCHEMA,
        shared_sources=SHARED_MIGRATIONS,
    )


async def build_app(settings: SegmentationSettings) -> GrpcApp:
    lines = sorted(settings.served_lines)
    await asyncio.to_thread(migrate_all, settings)
    prefix = settings.kafka_topic_prefix
    topics = [topic_name(line, USER_AGGREGATE, prefix=prefix) for line in lines]
    topics += [topic for line in lines for topic in consumed_topics(line, prefix)]
    await ensure_topics(settings.kafka_bootstrap_servers, topics, replication_factor=settings.kafka_replication_factor)
    pools = await create_line_pools(
        settings.database_url, service=NAME, lines=lines, max_size=settings.database_pool_size
    )
    relays = line_relays(
        settings.database_url, service=NAME, lines=lines, bootstrap_servers=settings.kafka_bootstrap_servers
    )
    consumers = [
        IdempotentConsumer(
            name=f"{prefix}{NAME}-profiles-{line}",
            pool=pools[line],
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=consumed_topics(line, prefix),
            handlers=profile_handlers(line),
        )
        for line in lines
    ]
    workers = [relay.run for relay in relays] + [consumer.run for consumer in consumers]

    servicer = SegmentationServicer(
        pools=pools,
        cities=CityTiers.load(settings.city_tiers_file),
        salt=settings.identity_link_salt.get_secret_value().encode(),
        topic_prefix=prefix,
        page_tokens=PageTokens.from_file(settings.page_token_key_file, service=NAME),
    )
    return GrpcApp(
        name=NAME,
        register=lambda server: segmentation_pb2_grpc.add_SegmentationServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        validators=VALIDATORS,
        access=ACCESS,
        workers=workers,
        on_stop=[lambda: close_pools(pools)],
    )
