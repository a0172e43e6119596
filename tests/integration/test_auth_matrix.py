"""The auth matrix: every RPC of every service (iterated from the protos' service descriptors) against every
caller its access rule refuses (tests/support/auth_matrix.py): no token, expired, a bad signature, an
unknown key, a key speaking beyond its custody, each role the rule does not let in, each service not among
its named callers, a token of the other line. Each gets the documented status and no answer, and none
writes a row. The rules are the ones the servers enforce (`services/<name>/entrypoints/access.py`), so a
new RPC without a rule fails here as it fails to start. Every service is served in-process on one fresh
database, with its relays, consumers and jobs; the requests are the known-good ones of each service's
bad-input test."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from google.protobuf.descriptor import FieldDescriptor
from pingou.common.v1 import common_pb2
from pingou.groupbuy.v1 import groupbuy_pb2_grpc
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from deploy.local.services import SERVICES
from libs.auth import Role, TokenIssuer, generate_key_pair
from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.grpckit import open_channel
from libs.grpckit.access import Access
from libs.grpckit.server import RunningServer, check_every_method_authorized
from libs.settings import ServiceSettings
from services.catalog.bootstrap import CatalogSettings
from services.groupbuy.bootstrap import GroupbuySettings
from services.membership.bootstrap import MembershipSettings
from services.order.bootstrap import OrderSettings
from services.segmentation.bootstrap import SegmentationSettings
from tests.conftest import TEST_IDENTITIES, Infra, Mint
from tests.integration.catalog import test_bad_input_every_field as catalog_tables
from tests.integration.catalog.conftest import Catalog
from tests.integration.groupbuy import test_bad_input_every_field as groupbuy_tables
from tests.integration.groupbuy.conftest import Platform, groupbuy_settings, start_groupbuy
from tests.integration.membership import test_bad_input_every_field as membership_tables
from tests.integration.membership.conftest import Plus
from tests.integration.order import test_bad_input_every_field as order_tables
from tests.integration.order.conftest import running_shop
from tests.integration.segmentation import test_bad_input_every_field as segmentation_tables
from tests.integration.segmentation.conftest import Segmentation
from tests.support.auth_matrix import Signers, Target, check_target
from tests.support.bad_input import Rpc

pytestmark = pytest.mark.infra
PINGOU = BusinessLine.PINGOU
SERVICE_NAMES = [spec.name for spec in SERVICES]
# What a servicer answers an owner (a rule's `owner` role) asking for what is not its own.
OWNER_REFUSALS = {"catalog": "NOT_YOUR_PRODUCT", "order": "NOT_THE_BUYER"}
# Not counted: relays, consumers and jobs move these while the matrix runs (the outbox, the inbox, rows set
# aside, the stock groupbuy's lease job moves, analytics' facts), and no RPC writes them directly.
MOVED_MEANWHILE = {"outbox", "inbox", "job_set_aside", "lease_requests", "stock_leases", "allotments"}


def methods_of(service: str) -> list[str]:
    """The full method names of the service's gRPC API, from its proto's descriptor."""
    proto = importlib.import_module(f"pingou.{service}.v1.{service}_pb2")
    (api,) = proto.DESCRIPTOR.services_by_name.values()
    return [f"/{api.full_name}/{method.name}" for method in api.methods]


def access_of(service: str) -> Mapping[str, Access]:
    """The rules the service's server enforces (`GrpcApp(access=ACCESS)` in its bootstrap)."""
    try:
        rules: Mapping[str, Access] = importlib.import_module(f"services.{service}.entrypoints.access").ACCESS
    except ModuleNotFoundError as error:
        raise AssertionError(
            f"{service} declares no access rules (services/{service}/entrypoints/access.py)"
        ) from error
    return rules


def settings_default(settings: type[ServiceSettings], name: str) -> Any:
    return settings.model_fields[name].default


# --- the platform


@dataclass
class Analytics:
    stub: Any  # AnalyticsServiceStub, when analytics started
    settings: Any  # AnalyticsSettings
    refused_to_start: str | None = None


@dataclass
class Matrix:
    platform: Platform
    analytics: Analytics
    signers: Signers
    prefix: str
    kafka: str

    @property
    def database_url(self) -> str:
        return self.platform.database_url


@asynccontextmanager
async def serving_analytics(common: dict[str, Any], ports: dict[str, int], keys: LocalKeys) -> AsyncIterator[Analytics]:
    """Analytics beside the others. Imported here, so that a service not finished yet fails its own RPCs'
    cases (with the reason it does not start) rather than the whole matrix."""
    from pingou.analytics.v1 import analytics_pb2_grpc

    from services.analytics.bootstrap import AnalyticsSettings
    from services.analytics.bootstrap import build_app as build_analytics

    settings = AnalyticsSettings(
        **common,
        segmentation_address=f"127.0.0.1:{ports['segmentation']}",
        service_signing_key_file=keys.service_key_file("analytics"),
    )
    app = await build_analytics(settings)
    try:
        check_every_method_authorized(app)
        server = RunningServer(app, settings)
    except ValueError as error:  # as the service's own start would refuse
        for hook in app.on_stop:
            await hook()
        yield Analytics(None, settings, refused_to_start=str(error))
        return
    await server.start()
    try:
        async with open_channel(f"127.0.0.1:{server.port}", default_timeout=30) as channel:
            yield Analytics(analytics_pb2_grpc.AnalyticsServiceStub(channel), settings)
    finally:
        await server.stop()


@pytest.fixture(scope="module")
async def matrix(
    infra: Infra,
    keys: LocalKeys,
    page_token_key: Path,
    topic_prefix: str,
    mint: Mint,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Matrix]:
    stranger = tmp_path_factory.mktemp("stranger")
    generate_key_pair(stranger / "stranger.key", stranger / "stranger.pub")
    signers = Signers(keys, TokenIssuer.from_file(stranger / "stranger.key"), TEST_IDENTITIES)
    prefix = f"{topic_prefix}am{uuid.uuid4().hex[:6]}."
    async with running_shop(infra, keys, mint, page_token_key=page_token_key, prefix=prefix) as running:
        settings = groupbuy_settings(running.common, running.ports, keys, {})
        groupbuy = await start_groupbuy(settings)
        try:
            async with (
                open_channel(f"127.0.0.1:{groupbuy.port}", default_timeout=30) as channel,
                serving_analytics(running.common, running.ports, keys) as analytics,
            ):
                ports = {**running.ports, "groupbuy": groupbuy.port}
                stub = groupbuy_pb2_grpc.GroupbuyServiceStub(channel)
                platform = Platform(stub, running.shop, settings, mint, groupbuy, ports)
                yield Matrix(platform, analytics, signers, prefix, infra.kafka_bootstrap)
        finally:
            await groupbuy.stop()


async def row_counts(matrix: Matrix) -> dict[str, int]:
    """Rows of every table the services' RPCs write, once every seat taken so far has its order (placed
    from SeatHeld a moment after the join) and nothing moves any more."""
    await matrix.platform.row_counts()  # waits for the seats' orders

    async def snapshot() -> dict[str, int]:
        connection = await asyncpg.connect(matrix.database_url)
        try:
            tables = await connection.fetch(
                """SELECT table_schema, table_name FROM information_schema.tables
                WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
                AND table_schema NOT LIKE 'analytics%' AND table_name NOT LIKE '%yoyo%'
                ORDER BY 1, 2"""
            )
            counts = {}
            for schema, table in tables:
                if table not in MOVED_MEANWHILE:
                    sql = f'SELECT count(*) FROM "{schema}"."{table}"'  # noqa: S608  -- names from the catalog
                    counts[f"{schema}.{table}"] = await connection.fetchval(sql)
            return counts
        finally:
            await connection.close()

    last = await snapshot()
    for _ in range(50):
        await asyncio.sleep(0.2)
        now = await snapshot()
        if now == last:
            return now
        last = now
    return last


# --- the known-good request of each RPC, from each service's bad-input tables


async def catalog_rpc(m: Matrix, method: str) -> Rpc:
    catalog = Catalog(m.platform.shop.catalog, m.database_url, m.prefix, m.platform.mint, m.kafka)
    return catalog_tables.TABLES_BY_RPC[method](catalog, await catalog.new_sku(PINGOU, stock=50))


async def groupbuy_rpc(m: Matrix, method: str) -> Rpc:
    return groupbuy_tables.TABLES[method](m.platform, await groupbuy_tables.scene(m.platform))


async def segmentation_rpc(m: Matrix, method: str) -> Rpc:
    segmentation = Segmentation(m.platform.shop.segmentation, m.database_url, m.kafka, m.prefix, m.platform.mint)
    user = await segmentation.register(PINGOU, city="临沂")
    await segmentation.stub.DefineSegment(
        seg_pb.DefineSegmentRequest(
            line=common_pb2.BUSINESS_LINE_PINGOU,
            segment_id=segmentation_tables.SEGMENT,
            rule=segmentation_tables.rule(),
        ),
        metadata=segmentation.token(PINGOU, Role.OPERATOR),
    )
    return segmentation_tables.TABLES[method](segmentation, user.user_id)


async def membership_rpc(m: Matrix, method: str) -> Rpc:
    # Plus reads only the database's address from its settings.
    settings = MembershipSettings.model_construct(database_url=m.database_url)
    plus = Plus(m.platform.shop.membership, m.platform.shop.segmentation, settings, m.platform.mint)
    member = await plus.register(PINGOU)
    if method != "Purchase":
        await plus.buy(member, membership_events.PLAN_MONTHLY)
    return membership_tables.TABLES[method](plus, member)


async def order_rpc(m: Matrix, method: str) -> Rpc:
    return order_tables.TABLES[method](m.platform.shop, await order_tables.scene(m.platform.shop))


async def analytics_rpc(m: Matrix, method: str) -> Rpc:
    from tests.integration.analytics import test_bad_input_every_field as analytics_tables
    from tests.integration.analytics.conftest import Platform as AnalyticsPlatform

    analytics = AnalyticsPlatform(
        m.platform.shop.segmentation, m.database_url, m.kafka, m.prefix, m.platform.mint, m.analytics.settings
    )
    analytics.stub = m.analytics.stub
    rpc: Rpc = analytics_tables.TABLES[method](analytics)
    return rpc


GoodRpc = Callable[[Matrix, str], Awaitable[Rpc]]
# Per service: its known-good RPC tables, and its settings (the callers its rules name, the lines it serves).
SERVED: dict[str, tuple[GoodRpc, Callable[[], type[ServiceSettings]]]] = {
    "catalog": (catalog_rpc, lambda: CatalogSettings),
    "groupbuy": (groupbuy_rpc, lambda: GroupbuySettings),
    "segmentation": (segmentation_rpc, lambda: SegmentationSettings),
    "membership": (membership_rpc, lambda: MembershipSettings),
    "order": (order_rpc, lambda: OrderSettings),
    "analytics": (analytics_rpc, lambda: importlib.import_module("services.analytics.bootstrap").AnalyticsSettings),
}


# --- the tests


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_method_has_exactly_one_access_rule(service: str) -> None:
    rules = access_of(service)
    assert sorted(set(methods_of(service)) - set(rules)) == [], "methods without an access rule"
    assert sorted(set(rules) - set(methods_of(service))) == [], "rules of methods the service does not have"


def _line_bearing_fields(message: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Fields that say which line a request is about: a BusinessLine, or a user, order or refund id."""
    found = []
    for item in message.fields:
        path = prefix + item.name
        names_line = item.enum_type is not None and item.enum_type.full_name == "pingou.common.v1.BusinessLine"
        names_id = item.type == FieldDescriptor.TYPE_STRING and item.name in {"user_id", "order_id", "refund_id"}
        if names_line or names_id:
            found.append(path)
        elif item.message_type is not None and depth < 2 and not item.message_type.GetOptions().map_entry:
            found += _line_bearing_fields(item.message_type, f"{path}.", depth + 1)
    return found


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_request_naming_a_line_a_user_or_an_order_says_where_its_line_comes_from(service: str) -> None:
    proto = importlib.import_module(f"pingou.{service}.v1.{service}_pb2")
    (api,) = proto.DESCRIPTOR.services_by_name.values()
    rules = access_of(service)
    careless = [
        f"{method.name} ({', '.join(fields)})"
        for method in api.methods
        if (fields := _line_bearing_fields(method.input_type)) and rules[f"/{api.full_name}/{method.name}"].line is None
    ]
    assert careless == [], "these rules take the caller's line though the request names one"


@pytest.mark.parametrize("method", [method for service in SERVICE_NAMES for method in methods_of(service)])
async def test_every_refused_caller_gets_the_documented_status_and_no_data(matrix: Matrix, method: str) -> None:
    service = next(name for name in SERVICE_NAMES if method in methods_of(name))
    if service == "analytics" and matrix.analytics.refused_to_start is not None:
        pytest.fail(f"analytics does not start: {matrix.analytics.refused_to_start}")
    rule = access_of(service).get(method)
    assert rule is not None, f"{method} has no access rule"
    good_rpc, settings = SERVED[service]
    rpc = await good_rpc(matrix, method.rsplit("/", 1)[1])
    target = Target(
        rule=rule,
        request=rpc.good[0].request,
        callers=settings_default(settings(), rule.callers) if rule.callers is not None else frozenset(),
        served_lines=settings_default(settings(), "served_lines"),
        owner_reason=OWNER_REFUSALS.get(service) if rule.owner is not None else None,
    )
    problems = await check_target(rpc.call, target, matrix.signers, lambda: row_counts(matrix))
    assert problems == []
