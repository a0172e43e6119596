"""The catalog service, served in-process on a database of its own with the demo catalog loaded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.catalog.v1 import catalog_pb2_grpc as pb_grpc
from pingou.common.v1 import common_pb2

from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.grpckit import open_channel, service_token_metadata
from services.catalog.bootstrap import CatalogSettings, build_app
from services.catalog.demo import seed_if_empty
from tests.conftest import Infra, Mint, fresh_database
from tests.support.catalog import listed_sku
from tests.support.database import fetchval
from tests.support.notes import running_app

PROTO_LINE = {BusinessLine.MALL: common_pb2.BUSINESS_LINE_MALL, BusinessLine.PINGOU: common_pb2.BUSINESS_LINE_PINGOU}


@dataclass
class Catalog:
    stub: pb_grpc.CatalogServiceStub
    database_url: str
    topic_prefix: str
    mint: Mint
    kafka: str

    def token(self, line: BusinessLine, *roles: Role, subject: str = "order") -> list[tuple[str, str]]:
        return service_token_metadata(self.mint(line=line, subject=subject, roles=roles or (Role.SERVICE,)))

    async def new_sku(self, line: BusinessLine, *, stock: int) -> str:
        """A fresh product with one SKU, listed on `line` with `stock` available."""
        return await listed_sku(self.stub, self.token(line, Role.OPERATOR), line, stock=stock)

    async def stock(self, line: BusinessLine, sku_id: str) -> tuple[int, int]:
        reply = await self.stub.GetStock(
            pb.GetStockRequest(line=PROTO_LINE[line], sku_id=sku_id), metadata=self.token(line)
        )
        return reply.available, reply.reserved

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await fetchval(self.database_url, sql, *args)


@pytest.fixture(scope="module")
async def catalog(
    infra: Infra, keys: LocalKeys, page_token_key: Path, topic_prefix: str, mint: Mint
) -> AsyncIterator[Catalog]:
    async with fresh_database(infra) as database_url:
        prefix = f"{topic_prefix}cat{uuid.uuid4().hex[:6]}."
        settings = CatalogSettings(
            grpc_port=0,
            database_url=database_url,
            kafka_bootstrap_servers=infra.kafka_bootstrap,
            jwt_key_set_file=keys.key_set_file,
            page_token_key_file=page_token_key,
            kafka_topic_prefix=prefix,
            reservation_expiry_poll_seconds=0.1,
            database_pool_size=20,
        )
        async with running_app(build_app, settings) as server:
            await seed_if_empty(database_url, topic_prefix=prefix)
            async with open_channel(f"127.0.0.1:{server.port}", default_timeout=30) as channel:
                yield Catalog(pb_grpc.CatalogServiceStub(channel), database_url, prefix, mint, infra.kafka_bootstrap)
