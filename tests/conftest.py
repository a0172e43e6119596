"""Fixtures shared by the whole suite.

Integration and end-to-end tests use the real PostgreSQL and Kafka that `make test` starts (their
addresses come from DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, or from .data/test/endpoints.env). When they
cannot be reached the tests skip on a developer's machine and fail in CI (CI=true), never pass silently.
Each test session works in a database and under a topic prefix of its own.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deploy.local.services import identities
from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.core.paging import make_page_token_key
from libs.logs import configure_logging
from libs.tracing import configure_tracing

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"

# One tracer provider and log set-up for the whole test process, as in a service process.
SPANS = InMemorySpanExporter()
configure_tracing("tests", extra_processors=[SimpleSpanProcessor(SPANS)])
configure_logging(service="tests", level="info", log_format="json")


@dataclass(frozen=True)
class Infra:
    database_url: str
    kafka_bootstrap: str


def _endpoint_settings() -> dict[str, str]:
    found = {}
    env_file = REPO / ".data" / "test" / "endpoints.env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip():
                found[key.strip()] = value.strip()
    for key in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        if os.environ.get(key):
            found[key] = os.environ[key]
    return found


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere: a missing Postgres or Kafka must never look like a pass in CI."""
    message = f"{reason} (run the suite with `make test`, which starts the infrastructure)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


async def _check_postgres(dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    await connection.close()


async def _check_kafka(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await asyncio.wait_for(admin.start(), 10)
    try:
        await asyncio.wait_for(admin.list_topics(), 10)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def infra() -> Infra:
    settings = _endpoint_settings()
    dsn, bootstrap = settings.get("DATABASE_URL"), settings.get("KAFKA_BOOTSTRAP_SERVERS")
    if not dsn or not bootstrap:
        unavailable("DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS are not known")
    assert dsn
    assert bootstrap
    try:
        await _check_postgres(dsn)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unavailable(f"PostgreSQL at {dsn} does not answer: {error!r}")
    try:
        await _check_kafka(bootstrap)
    except Exception as error:
        unavailable(f"Kafka at {bootstrap} does not answer: {error!r}")
    return Infra(dsn, bootstrap)


@asynccontextmanager
async def fresh_database(infra: Infra) -> AsyncIterator[str]:
    """A database of its own, dropped afterwards: tests in it see only their own rows."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(infra.database_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    admin = await asyncpg.connect(infra.database_url)
    try:
        for attempt in range(50):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except asyncpg.InsufficientPrivilegeError:
                # An autovacuum worker (a superuser process) may be in the database; FORCE cannot end
                # it for a non-superuser owner, but it leaves on its own within moments.
                await asyncio.sleep(0.1 * (attempt + 1))
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database_url(infra: Infra) -> AsyncIterator[str]:
    async with fresh_database(infra) as url:
        yield url


@pytest.fixture(scope="session")
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


# The service identities of the suite's platforms: every service, the outside callers a local platform
# trusts (deploy/local/services.py), and the callers the tests play themselves.
TEST_IDENTITIES = (*identities(), "checkout", "app")


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> LocalKeys:
    """The suite's keys, laid out like a local platform's: the issuer's, one per service identity, the key set."""
    return LocalKeys.make(tmp_path_factory.mktemp("keys"), TEST_IDENTITIES)


@pytest.fixture(scope="session")
def page_token_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page-token key file (PAGE_TOKEN_KEY_FILE) of the services under test, made as `make up` makes it."""
    return make_page_token_key(tmp_path_factory.mktemp("page-tokens") / "page-token.key")


Mint = Callable[..., str]


@pytest.fixture(scope="session")
def mint(keys: LocalKeys) -> Mint:
    """Tokens signed as the platform would sign them: people's roles by the issuer key, the `service` role by
    the subject's own service key (a subject with no key, or a mix of both, cannot be minted)."""

    def make(
        line: BusinessLine = BusinessLine.PINGOU,
        subject: str = "u-1",
        roles: tuple[Role, ...] = (Role.USER,),
        ttl_seconds: int = 600,
    ) -> str:
        return keys.mint(subject=subject, line=line, roles=roles, ttl_seconds=ttl_seconds)

    return make


@pytest.fixture
def spans() -> InMemorySpanExporter:
    SPANS.clear()
    return SPANS
