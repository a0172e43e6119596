"""The outbox relay: publishes committed outbox rows to Kafka, in id order, at least once.

One relay leads per schema at a time (a Postgres advisory lock held by its connection), so rows are
sent in id order and replicas stand by instead of interleaving. The producer is idempotent with
acks=all; a row is deleted only after Kafka acknowledged it, so whatever a crash leaves behind is sent
again on the next start and deduplicated by consumers on its event id. Each row's delivery is judged on
its own: acknowledged rows go, failed rows are retried, and a row that failed `max_attempts` times is
parked so that it cannot block the rows after it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from libs.core import BusinessLine
from libs.database.migrations import check_identifier, schema_name
from libs.logs import get_logger
from libs.metrics import OUTBOX_BACKLOG, OUTBOX_PARKED, OUTBOX_PUBLISHED

log = get_logger(__name__)

_FETCH = "SELECT id, topic, key, payload, headers FROM outbox WHERE parked_at IS NULL ORDER BY id LIMIT $1"
_DELETE_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
_RECORD_FAILURE = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2,
    parked_at = CASE WHEN attempts + 1 >= $3 THEN now() END
WHERE id = $1 RETURNING parked_at IS NOT NULL AS parked
"""
_BACKLOG = "SELECT count(*) FILTER (WHERE parked_at IS NULL), count(*) FILTER (WHERE parked_at IS NOT NULL) FROM outbox"


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int = 500
    idle_pause: float = 0.01  # seconds before the next poll after a batch that was not full
    # Polls that find nothing back off, doubling up to this: an idle platform does not poll a hundred
    # times a second per schema, and the first event after a quiet spell waits at most this long.
    max_idle_pause: float = 0.1
    failure_pause: float = 1.0  # after a batch with failures, before trying again
    max_attempts: int = 10  # then the row is parked for an operator
    send_timeout_ms: int = 15_000  # how long one send may wait for Kafka (metadata, acknowledgement)
    standby_pause: float = 1.0  # how often a standby relay tries to take the lead


def new_producer(bootstrap_servers: str, *, request_timeout_ms: int = 15_000) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=request_timeout_ms,
    )


class OutboxRelay:
    def __init__(self, *, dsn: str, schema: str, bootstrap_servers: str, config: RelayConfig | None = None):
        self._dsn = dsn
        self._schema = check_identifier(schema)
        self._bootstrap = bootstrap_servers
        self._config = config or RelayConfig()
        self._last_report = 0.0

    async def run(self) -> None:
        """Publish until cancelled. Connection losses are retried; leadership is re-taken."""
        producer = new_producer(self._bootstrap, request_timeout_ms=self._config.send_timeout_ms)
        try:
            await producer.start()
            while True:
                try:
                    await self._lead(producer)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    log.warning("relay_connection_lost", schema=self._schema, error=str(error))
                    await asyncio.sleep(1.0)
        finally:
            await producer.stop()

    async def _lead(self, producer: AIOKafkaProducer) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            server_settings={
                "search_path": self._schema,
                "application_name": "outbox-relay",
                # A relay that died mid-statement is noticed even while its statement waits on a lock.
                "client_connection_check_interval": "1000",
            },
        )
        try:
            # The lock lives as long as this connection: if the relay dies, Postgres frees it.
            while not await connection.fetchval(  # noqa: ASYNC110  -- the lock is in Postgres: polling is the way to wait
                "SELECT pg_try_advisory_lock(hashtext($1))", f"outbox-relay:{self._schema}"
            ):
                await asyncio.sleep(self._config.standby_pause)
            log.info("relay_leading", schema=self._schema)
            pause = self._config.idle_pause
            while True:
                published, failed = await self.publish_batch(connection, producer)
                await self._report(connection)
                if failed:
                    await asyncio.sleep(self._config.failure_pause)
                elif published < self._config.batch_size:
                    pause = self._config.idle_pause if published else min(2 * pause, self._config.max_idle_pause)
                    await asyncio.sleep(pause)
        finally:
            await connection.close()

    async def publish_batch(self, connection: asyncpg.Connection, producer: AIOKafkaProducer) -> tuple[int, int]:
        """Send one batch; returns (published, failed)."""
        rows = await connection.fetch(_FETCH, self._config.batch_size)
        if not rows:
            return 0, 0
        deliveries: list[asyncio.Future[object] | BaseException] = []
        for row in rows:
            headers = [(name, value.encode()) for name, value in json.loads(row["headers"]).items()]
            try:
                deliveries.append(
                    await producer.send(row["topic"], value=row["payload"], key=row["key"].encode(), headers=headers)
                )
            except Exception as error:  # refused before sending (unknown topic, record too large, ...)
                deliveries.append(error)
        outcomes = await asyncio.gather(
            *(d for d in deliveries if not isinstance(d, BaseException)), return_exceptions=True
        )
        results = iter(outcomes)
        acknowledged, failures = [], []
        for row, delivery in zip(rows, deliveries, strict=True):
            outcome = delivery if isinstance(delivery, BaseException) else next(results)
            if isinstance(outcome, BaseException):
                failures.append((row["id"], outcome))
            else:
                acknowledged.append(row["id"])
        if acknowledged:
            await connection.execute(_DELETE_PUBLISHED, acknowledged)
            OUTBOX_PUBLISHED.labels(self._schema).inc(len(acknowledged))
        for row_id, failure in failures:
            reason = repr(failure)[:1000]
            parked = await connection.fetchval(_RECORD_FAILURE, row_id, reason, self._config.max_attempts)
            log.warning("relay_publish_failed", schema=self._schema, outbox_id=row_id, parked=parked, error=reason)
        return len(acknowledged), len(failures)

    async def _report(self, connection: asyncpg.Connection) -> None:
        """Every few seconds: the backlog and the parked rows, for alerts."""
        now = time.monotonic()
        if now - self._last_report < 5.0:
            return
        self._last_report = now
        pending, parked = await connection.fetchrow(_BACKLOG)
        OUTBOX_BACKLOG.labels(self._schema).set(pending)
        OUTBOX_PARKED.labels(self._schema).set(parked)


def line_relays(dsn: str, *, service: str, lines: Iterable[BusinessLine], bootstrap_servers: str) -> list[OutboxRelay]:
    """One relay per served line, each publishing that line's schema's outbox."""
    return [
        OutboxRelay(dsn=dsn, schema=schema_name(service, line), bootstrap_servers=bootstrap_servers)
        for line in sorted(lines)
    ]
