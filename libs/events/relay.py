"""The outbox relay: publishes committed outbox rows to Kafka, in id order, at least once.

One relay leads per schema at a time (a Postgres advisory lock held by its connection), so rows are
sent in commit-id order and replicas stand by instead of interleaving. The producer is idempotent with
acks=all; a row is stamped published only after Kafka acknowledged it, so whatever a crash leaves
behind is sent again on the next start and deduplicated by consumers on its event id.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from aiokafka import AIOKafkaProducer

from libs.database.migrations import check_identifier
from libs.logs import get_logger
from libs.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = get_logger(__name__)

_FETCH = """
SELECT id, topic, key, payload, headers FROM outbox
WHERE published_at IS NULL ORDER BY id LIMIT $1
"""
_MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_MARK_FAILED = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])"
_PURGE = "DELETE FROM outbox WHERE published_at < now() - $1::interval"
_BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL"


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int = 500
    idle_pause: float = 0.01  # seconds between polls when nothing was waiting: bounds event lag
    retention: timedelta = timedelta(hours=1)  # published rows kept this long for inspection
    standby_pause: float = 1.0  # how often a standby relay tries to take the lead


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15000,
    )


class OutboxRelay:
    def __init__(self, *, dsn: str, schema: str, bootstrap_servers: str, config: RelayConfig | None = None):
        self._dsn = dsn
        self._schema = check_identifier(schema)
        self._bootstrap = bootstrap_servers
        self._config = config or RelayConfig()
        self._last_housekeeping = 0.0

    async def run(self) -> None:
        """Publish until cancelled. Connection losses are retried; leadership is re-taken."""
        producer = new_producer(self._bootstrap)
        await producer.start()
        try:
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
            self._dsn, server_settings={"search_path": self._schema, "application_name": "outbox-relay"}
        )
        try:
            # The lock lives as long as this connection: if the relay dies, Postgres frees it.
            while not await connection.fetchval(  # noqa: ASYNC110  -- the lock is in Postgres: polling is the way to wait
                "SELECT pg_try_advisory_lock(hashtext($1))", f"outbox-relay:{self._schema}"
            ):
                await asyncio.sleep(self._config.standby_pause)
            log.info("relay_leading", schema=self._schema)
            while True:
                published = await self.publish_batch(connection, producer)
                await self._housekeeping(connection)
                if published < self._config.batch_size:
                    await asyncio.sleep(self._config.idle_pause)
        finally:
            await connection.close()

    async def publish_batch(self, connection: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        rows = await connection.fetch(_FETCH, self._config.batch_size)
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        try:
            deliveries = []
            for row in rows:
                headers = [(name, value.encode()) for name, value in json.loads(row["headers"]).items()]
                deliveries.append(
                    await producer.send(row["topic"], value=row["payload"], key=row["key"].encode(), headers=headers)
                )
            await asyncio.gather(*deliveries)
        except Exception as error:
            await connection.execute(_MARK_FAILED, ids, str(error)[:1000])
            log.warning("relay_publish_failed", schema=self._schema, events=len(ids), error=str(error))
            await asyncio.sleep(1.0)
            return 0
        await connection.execute(_MARK_PUBLISHED, ids)
        OUTBOX_PUBLISHED.labels(self._schema).inc(len(ids))
        return len(ids)

    async def _housekeeping(self, connection: asyncpg.Connection) -> None:
        """Every few seconds: report the backlog; purge rows published longer ago than the retention."""
        now = time.monotonic()
        if now - self._last_housekeeping < 5.0:
            return
        self._last_housekeeping = now
        OUTBOX_BACKLOG.labels(self._schema).set(await connection.fetchval(_BACKLOG))
        await connection.execute(_PURGE, self._config.retention)


async def _main() -> None:
    import argparse
    import os

    from libs.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m libs.events.relay", description="run one outbox relay")
    parser.add_argument("--schema", required=True)
    parser.add_argument("--batch-size", type=int, default=RelayConfig.batch_size)
    args = parser.parse_args()
    configure_logging(service="outbox-relay")
    relay = OutboxRelay(
        dsn=os.environ["DATABASE_URL"],
        schema=args.schema,
        bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        config=RelayConfig(batch_size=args.batch_size),
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(_main())
