"""Wiring: settings, migrations, topics, pools, the segmentation client, relays, expiry jobs and the servicer."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from pingou.membership.v1 import membership_pb2_grpc
from pydantic import Field

from libs.auth import ServiceCredentials
from libs.database import close_pools, create_line_pools, migrate_service
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import ensure_topics, line_relays, topic_name
from libs.grpckit import GrpcApp
from libs.jobs import MIGRATIONS as JOB_MIGRATIONS
from libs.settings import PrivateKeyFile, ServiceAddress, ServiceNames, ServiceSettings
from services.membership.adapters.repository import TRIALS_SCHEMA
from services.membership.adapters.segmentation import SegmentationLinks, open_segmentation_channel
from services.membership.entrypoints.access import ACCESS
from services.membership.entrypoints.grpc_api import MembershipServicer
from services.membership.entrypoints.jobs import ExpiryJob
from services.membership.entrypoints.validation import SERVICE, VALIDATORS
from services.membership.service_layer.unit_of_work import MEMBERSHIP_AGGREGATE, UnitOfWork

NAME = "membership"
HERE = Path(__file__).resolve().parent
# migrations/line/ goes into each line's schema; migrations/shared/, where there is one, into the schema both
# lines share.
LINE_MIGRATIONS = [EVENT_MIGRATIONS, JOB_MIGRATIONS, HERE / "migrations" / "line"]
SHARED_MIGRATIONS = [HERE / "migrations" / "shared"]


class MembershipSettings(ServiceSettings):
    service_name: str = NAME
    # Where segmentation answers GetLinkedAccounts (host:port): a trial is refused without it.
    segmentation_address: ServiceAddress
    service_signing_key_file: PrivateKeyFile
    expiry_poll_seconds: float = Field(default=5.0, gt=0, le=3600)
    expiry_batch_size: int = Field(default=500, ge=1, le=10_000)
    coupons_per_month: int = Field(default=5, ge=0, le=100)
    # Which services (token subjects) may sell and renew PLUS: the payment provider's adapter, which
    # calls once the money is taken (operators may too, to fix an order).
    purchase_callers: ServiceNames = frozenset({"payments"})


def migrate_all(settings: MembershipSettings) -> None:
    # The trial claims are shared by both lines: "once per person" spans them.
    migrate_service(
        settings.database_url,
        NAME,
        lines=sorted(settings.served_lines),
        line_sources=LINE_MIGRATIONS,
        shared_schema=TRIALS_SCHEMA,
        shared_sources=SHARED_MIGRATIONS,
    )


async def build_app(settings: MembershipSettings) -> GrpcApp:
    lines = sorted(settings.served_lines)
    await asyncio.to_thread(migrate_all, settings)
    prefix = settings.kafka_topic_prefix
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        [topic_name(line, MEMBERSHIP_AGGREGATE, prefix=prefix) for line in lines],
        replication_factor=settings.kafka_replication_factor,
    )
    pools = await create_line_pools(
        settings.database_url, service=NAME, lines=lines, max_size=settings.database_pool_size
    )
    relays = line_relays(
        settings.database_url, service=NAME, lines=lines, bootstrap_servers=settings.kafka_bootstrap_servers
    )
    expiry_jobs = [
        ExpiryJob(
            partial(UnitOfWork, pools[line], line, topic_prefix=prefix),
            poll_seconds=settings.expiry_poll_seconds,
            batch_size=settings.expiry_batch_size,
        )
        for line in lines
    ]
    workers = [relay.run for relay in relays] + [job.run for job in expiry_jobs]
    segmentation = open_segmentation_channel(settings.segmentation_address)
    credentials = ServiceCredentials.from_file(settings.service_signing_key_file, service=NAME)

    async def close() -> None:
        await segmentation.close()
        await close_pools(pools)

    servicer = MembershipServicer(
        pools=pools,
        links=SegmentationLinks(segmentation, credentials),
        topic_prefix=prefix,
        coupons_per_month=settings.coupons_per_month,
    )
    return GrpcApp(
        name=NAME,
        register=lambda server: membership_pb2_grpc.add_MembershipServiceServicer_to_server(servicer, server),
        service_names=[SERVICE],
        validators=VALIDATORS,
        access=ACCESS,
        workers=workers,
        on_stop=[close],
    )
