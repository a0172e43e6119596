"""The outbox relay: publishes committed outbox rows to Kafka in id order, at least once, and keeps each
key's rows in order whatever happens to a delivery.

One relay leads per schema at a time (a Postgres advisory lock held by its connection), so rows are sent
in id order and replicas stand by instead of interleaving. The producer is idempotent with acks=all; a
row is deleted only after Kafka acknowledged it, so whatever a crash leaves behind is sent again on the
next start and deduplicated by consumers on its event id.

Order per key. The rows of a batch bound for one partition (every row of a key is) go out as one record
batch, which the broker writes or refuses as a whole, and the next batch is fetched only once every
outcome of this one is known. aiokafka alone would not keep the order through a failure: it has one
batch per partition in flight, and retries a batch in place on a retriable error (with idempotence,
forever and without duplicates), but a batch that fails for good, or expires while its partition has no
leader, does not stop the later batches of that partition, which may then be written before it. And it
does not rewind its sequence numbers past a failed batch, so a broker that knows the producer refuses
the partition's later batches as out of order. Hence the relay replaces its producer after any failed
delivery, and a row that failed holds back the later rows of its topic and key (the fetch skips them)
until it is delivered.

Failures. Those aiokafka retries in place (the broker away, too few in-sync replicas) only hold the
batch until they pass. Transient ones that surface (no leader past the send timeout, a timeout, a topic
not created yet, a producer out of sequence) are retried for as long as they last, with a pause per
partition that doubles up to `max_retry_pause` (the row's `retry_at`); meanwhile the other rows of that
partition wait unsent and the other partitions go on. Attempts and the last error stay on the row for
operators. A permanent refusal
(the record too large, the topic refused) sets the row aside (`parked_at`) until an operator replays it
(`python -m libs.events set-aside`, then `replay`). A record batch of several rows may be refused as a
whole (too large together), so its rows are sent again one at a time, and only a row refused on its own
is set aside.

The happy path is one fetch, one send per partition (all in flight together) and one delete per batch.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    BrokerNotAvailableError,
    BrokerResponseError,
    ClusterAuthorizationFailedError,
    InvalidProducerEpoch,
    InvalidTopicError,
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    ProducerClosed,
    ProducerFenced,
    RecordTooLargeError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    UnsupportedForMessageFormatError,
)
from aiokafka.partitioner import DefaultPartitioner

from libs.core import BusinessLine
from libs.database.migrations import check_identifier, schema_name
from libs.logs import get_logger
from libs.metrics import OUTBOX_BACKLOG, OUTBOX_PARKED, OUTBOX_PUBLISHED, OUTBOX_RETRYING

log = get_logger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024  # the producer's max_request_size: a larger record is refused for good

# A row is fetched unless it is set aside or waiting for its retry, or an earlier row of its key is.
_FETCH = """
SELECT id, topic, key, payload, headers FROM outbox o
WHERE parked_at IS NULL AND (retry_at IS NULL OR retry_at <= now())
    AND NOT EXISTS (
        SELECT FROM outbox held
        WHERE held.topic = o.topic AND held.key = o.key AND held.id < o.id
            AND (held.parked_at IS NOT NULL OR held.retry_at > now()))
ORDER BY id LIMIT $1
"""
_DELETE_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
# Per row: 'failed' (an attempt failed transiently), 'waiting' (not attempted: its partition or topic
# is pausing) or 'set_aside' (refused for good).
_RECORD_FAILURES = """
UPDATE outbox o SET
    attempts = o.attempts + (f.outcome <> 'waiting')::int,
    last_error = coalesce(f.error, o.last_error),
    retry_at = CASE WHEN f.outcome <> 'set_aside' THEN now() + make_interval(secs => f.pause) END,
    parked_at = CASE WHEN f.outcome = 'set_aside' THEN now() END
FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::text[]) AS f(id, outcome, pause, error)
WHERE o.id = f.id
"""
_BACKLOG = """
SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending, count(*) FILTER (WHERE retry_at IS NOT NULL) AS retrying,
    count(*) FILTER (WHERE parked_at IS NOT NULL) AS set_aside
FROM outbox
"""


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int = 500
    idle_pause: float = 0.01  # seconds before the next poll after a batch that was not full
    # Polls that find nothing back off, doubling up to this: an idle platform does not poll a hundred
    # times a second per schema, and the first event after a quiet spell waits at most this long.
    max_idle_pause: float = 0.1
    # After a transient failure a partition (or a topic whose partitions are unknown) pauses this long,
    # doubling at each failure in a row up to `max_retry_pause`; its rows wait, the others go on.
    retry_pause: float = 0.5
    max_retry_pause: float = 30.0
    send_timeout_ms: int = 15_000  # how long one send may wait for Kafka (metadata, a partition's leader)
    standby_pause: float = 1.0  # how often a standby relay tries to take the lead
    report_interval: float = 5.0  # seconds between updates of the backlog metrics (and set-aside warnings)


class Failure(enum.Enum):
    """What a failed delivery says about the row."""

    TRANSIENT = "transient"  # nothing about the row: retried, after a pause, for as long as it lasts
    RECORD = "record"  # the record (or the record batch it was in) is refused for good
    TOPIC = "topic"  # the topic refuses every record


# Not retriable in aiokafka's eyes, yet not the row's fault: the producer's own state (its sequence numbers
# after a failed batch, its id or epoch), a timeout, a broker going away, the relay's credentials.
# A new producer, or time, fixes them.
_NOT_THE_ROWS_FAULT: tuple[type[BaseException], ...] = (
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
    ProducerClosed,
    BrokerNotAvailableError,
    ClusterAuthorizationFailedError,
    SaslAuthenticationFailed,
    OSError,
    TimeoutError,
)
_TOPIC_REFUSALS = (
    TopicAuthorizationFailedError,
    InvalidTopicError,
    PolicyViolationError,
    UnsupportedForMessageFormatError,
)


def classify(error: BaseException) -> Failure:
    """Transient unless the broker refused the records or their topic for good (too large, corrupt, a bad
    timestamp, not authorized, an invalid topic, a policy): the client's and the producer's own troubles,
    and whatever aiokafka calls retriable (no leader, a timeout, a topic not there yet), are not the row's."""
    if isinstance(error, _NOT_THE_ROWS_FAULT) or getattr(error, "retriable", False):
        return Failure.TRANSIENT
    if isinstance(error, _TOPIC_REFUSALS):
        return Failure.TOPIC
    if isinstance(error, BrokerResponseError | RecordTooLargeError):
        return Failure.RECORD
    return Failure.TRANSIENT


def retry_pause(failures: int, config: RelayConfig) -> float:
    """The pause after the `failures`-th transient failure in a row of one partition: doubling, capped."""
    return float(min(config.max_retry_pause, config.retry_pause * 2 ** min(failures - 1, 30)))


def new_producer(bootstrap_servers: str, *, request_timeout_ms: int = 15_000) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
        request_timeout_ms=request_timeout_ms,
    )


Destination = tuple[str, int | None]  # (topic, partition); no partition while the topic's are unknown
_partitioner = DefaultPartitioner()  # the producer's own: a key's rows always go to one partition


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    topic: str
    key: str
    encoded_key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, record: asyncpg.Record) -> _Row:
        """Raises when the row cannot be made a Kafka record (its headers, its size): refused for good."""
        encoded_key, value = record["key"].encode(), record["payload"]
        if len(encoded_key) + len(value) > MAX_REQUEST_BYTES:
            raise RecordTooLargeError(f"{len(value)} bytes, more than a request may carry ({MAX_REQUEST_BYTES})")
        headers = [(name, text.encode()) for name, text in json.loads(record["headers"]).items()]
        return cls(record["id"], record["topic"], record["key"], encoded_key, value, headers)

    @classmethod
    def unsendable(cls, record: asyncpg.Record) -> _Row:
        """A row that `of` refused, with what bookkeeping needs of it."""
        return cls(record["id"], record["topic"], record["key"], b"", b"", [])


@dataclass(slots=True)
class _RecordBatch:
    """Rows bound for one partition, sent as one record batch: the broker writes or refuses them together."""

    topic: str
    partition: int
    builder: Any  # aiokafka's BatchBuilder
    rows: list[_Row] = field(default_factory=list)

    def add(self, row: _Row) -> bool:
        """False when the batch is full (it always takes its first row)."""
        if self.builder.append(timestamp=None, key=row.encoded_key, value=row.value, headers=row.headers) is None:
            return False
        self.rows.append(row)
        return True


@dataclass(slots=True)
class _Pause:
    failures: int  # transient failures in a row
    until: float  # time.monotonic()


@dataclass(slots=True)
class _Bookkeeping:
    """What one batch did, written back in one statement each: the rows published, and the outcome of each
    key's first row that was not (its later rows wait behind it without a record of their own)."""

    published: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    held: set[tuple[str, str]] = field(default_factory=set)  # keys whose later rows must not be sent now
    recorded: set[tuple[str, str]] = field(default_factory=set)

    def hold(self, rows: Iterable[_Row], outcome: str, pause: float, error: str | None) -> list[int]:
        """Record `outcome` on the first row of each key among `rows` (in id order), and hold the key back
        for the rest of the batch; returns the ids recorded."""
        ids = []
        for row in rows:
            if (row.topic, row.key) in self.recorded:
                continue
            self.recorded.add((row.topic, row.key))
            self.held.add((row.topic, row.key))
            ids.append(row.id)
            self.ids.append(row.id)
            self.outcomes.append(outcome)
            self.pauses.append(pause)
            self.errors.append(error)
        return ids


async def _deliver(producer: AIOKafkaProducer, batches: Sequence[_RecordBatch]) -> list[BaseException | None]:
    """Hand every record batch to the producer, then wait for all: None where Kafka acknowledged."""
    handed: list[asyncio.Future[Any] | BaseException] = []
    for batch in batches:
        try:
            handed.append(await producer.send_batch(batch.builder, batch.topic, partition=batch.partition))
        except Exception as error:  # refused before sending (a broken producer, a full queue)
            handed.append(error)
    results = iter(
        await asyncio.gather(*(h for h in handed if not isinstance(h, BaseException)), return_exceptions=True)
    )
    outcomes: list[BaseException | None] = []
    for sent in handed:
        outcome = sent if isinstance(sent, BaseException) else next(results)
        outcomes.append(outcome if isinstance(outcome, BaseException) else None)
    return outcomes


class OutboxRelay:
    def __init__(self, *, dsn: str, schema: str, bootstrap_servers: str, config: RelayConfig | None = None):
        self._dsn = dsn
        self._schema = check_identifier(schema)
        self._bootstrap = bootstrap_servers
        self._config = config or RelayConfig()
        self._last_report = 0.0
        self._producer: AIOKafkaProducer | None = None
        self._replace_producer = False
        self._pauses: dict[Destination, _Pause] = {}

    async def run(self) -> None:
        """Publish until cancelled. Connection losses are retried; leadership is re-taken."""
        try:
            while True:
                try:
                    await self._lead()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    log.warning("relay_connection_lost", schema=self._schema, error=str(error))
                    await asyncio.sleep(1.0)
        finally:
            await self._stop_producer()

    async def _lead(self) -> None:
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
                fetched, _ = await self.publish_batch(connection)
                await self._report(connection)
                if fetched < self._config.batch_size:
                    pause = self._config.idle_pause if fetched else min(2 * pause, self._config.max_idle_pause)
                    await asyncio.sleep(pause)
        finally:
            await connection.close()

    async def publish_batch(self, connection: asyncpg.Connection) -> tuple[int, int]:
        """Send one batch; returns (rows fetched, rows published)."""
        records = await connection.fetch(_FETCH, self._config.batch_size)
        if not records:
            return 0, 0
        producer = await self._ready_producer()
        books = _Bookkeeping()
        batches = await self._assemble(producer, records, books)
        refused = []
        for batch, error in zip(batches, await _deliver(producer, batches), strict=True):
            if error is None:
                books.published.extend(row.id for row in batch.rows)
                self._pauses.pop((batch.topic, batch.partition), None)
                continue
            self._replace_producer = True
            if len(batch.rows) > 1 and classify(error) is Failure.RECORD:
                refused.append(batch)  # which row is at fault, if any one is, shows only one by one
            else:
                self._failed((batch.topic, batch.partition), batch.rows, error, books)
        for batch in refused:
            await self._send_one_by_one(batch, books)
        if books.published:
            await connection.execute(_DELETE_PUBLISHED, books.published)
            OUTBOX_PUBLISHED.labels(self._schema).inc(len(books.published))
        if books.ids:
            await connection.execute(_RECORD_FAILURES, books.ids, books.outcomes, books.pauses, books.errors)
        return len(records), len(books.published)

    async def _assemble(
        self, producer: AIOKafkaProducer, records: Sequence[asyncpg.Record], books: _Bookkeeping
    ) -> list[_RecordBatch]:
        """The rows that can go now, as one record batch per partition, in id order. The others wait: those
        of a pausing partition or topic (recorded so), those behind a row of their key that failed here, and
        those that no longer fit their partition's record batch (fetched again next time)."""
        now = time.monotonic()
        partitions = await self._partitions(producer, {record["topic"] for record in records}, now)
        batches: dict[Destination, _RecordBatch] = {}
        full: set[Destination] = set()
        waiting: dict[Destination, list[_Row]] = defaultdict(list)
        for record in records:
            if (record["topic"], record["key"]) in books.held:
                continue
            try:
                row = _Row.of(record)
            except Exception as error:  # whatever it is, this row cannot be sent
                self._failed((record["topic"], None), [_Row.unsendable(record)], error, books, refused=True)
                continue
            found = partitions[row.topic]
            if not isinstance(found, list):  # the topic pauses, or its partitions were not found just now
                waiting[(row.topic, None)].append(row)
                books.held.add((row.topic, row.key))
                continue
            partition: int = _partitioner(row.encoded_key, found, found)
            destination: Destination = (row.topic, partition)
            if destination in full:
                continue
            if self._pausing(destination, now):
                waiting[destination].append(row)
                books.held.add((row.topic, row.key))
                continue
            batch = batches.get(destination)
            if batch is None:
                batch = batches[destination] = _RecordBatch(row.topic, partition, producer.create_batch())
            if not batch.add(row):
                full.add(destination)
        for destination, rows in waiting.items():
            missing = partitions[destination[0]]
            if isinstance(missing, BaseException):
                self._failed(destination, rows, missing, books)
            else:
                books.hold(rows, "waiting", max(self._pauses[destination].until - now, 0.0), None)
        return list(batches.values())

    async def _partitions(
        self, producer: AIOKafkaProducer, topics: Iterable[str], now: float
    ) -> dict[str, list[int] | BaseException | None]:
        """Each topic's partitions; the error when they cannot be found; None while the topic pauses."""
        asking = sorted(topic for topic in topics if not self._pausing((topic, None), now))
        found = await asyncio.gather(*(producer.partitions_for(topic) for topic in asking), return_exceptions=True)
        partitions: dict[str, list[int] | BaseException | None] = dict.fromkeys(topics)
        for topic, result in zip(asking, found, strict=True):
            partitions[topic] = result if isinstance(result, BaseException) else sorted(result)
            if not isinstance(result, BaseException):
                self._pauses.pop((topic, None), None)
        return partitions

    async def _send_one_by_one(self, batch: _RecordBatch, books: _Bookkeeping) -> None:
        """Send the rows of a refused record batch again, each alone, in id order: only a row refused on its
        own is set aside, and the later rows of its key wait behind it."""
        for index, row in enumerate(batch.rows):
            if (row.topic, row.key) in books.held:
                continue
            producer = await self._ready_producer()
            alone = _RecordBatch(batch.topic, batch.partition, producer.create_batch())
            alone.add(row)
            (error,) = await _deliver(producer, [alone])
            if error is None:
                books.published.append(row.id)
                continue
            self._replace_producer = True
            if classify(error) is Failure.RECORD:
                self._failed((batch.topic, batch.partition), [row], error, books)
            else:  # the partition fails now, or the topic refuses all: the rest shares the outcome
                self._failed((batch.topic, batch.partition), batch.rows[index:], error, books)
                return
        self._pauses.pop((batch.topic, batch.partition), None)

    def _failed(
        self,
        destination: Destination,
        rows: Sequence[_Row],
        error: BaseException,
        books: _Bookkeeping,
        *,
        refused: bool = False,
    ) -> None:
        """Record a failed delivery of `rows`: each key's first row pauses with its partition (transient) or
        is set aside (`refused`, or a permanent refusal)."""
        topic, partition = destination
        reason = repr(error)[:1000]
        if not refused and classify(error) is Failure.TRANSIENT:
            pause = self._pause(destination)
            ids = books.hold(rows, "failed", pause, reason)
            log.warning(
                "relay_delivery_failed",
                schema=self._schema,
                topic=topic,
                partition=partition,
                outbox_ids=ids[:20],
                rows=len(ids),
                error=reason,
                retry_in=round(pause, 3),
            )
            return
        ids = books.hold(rows, "set_aside", 0.0, reason)
        log.error(
            "relay_rows_set_aside",
            schema=self._schema,
            topic=topic,
            partition=partition,
            outbox_ids=ids,
            error=reason,
            replay=f"python -m libs.events set-aside --schema {self._schema}",
        )

    def _pausing(self, destination: Destination, now: float) -> bool:
        pause = self._pauses.get(destination)
        return pause is not None and pause.until > now

    def _pause(self, destination: Destination) -> float:
        """Start (or lengthen) the pause of a destination that failed transiently; returns its length."""
        failures = self._pauses[destination].failures + 1 if destination in self._pauses else 1
        pause = retry_pause(failures, self._config)
        self._pauses[destination] = _Pause(failures, time.monotonic() + pause)
        return pause

    async def _ready_producer(self) -> AIOKafkaProducer:
        """The producer, replaced first after a failed delivery (aiokafka does not rewind its sequence numbers
        past a failed batch). While Kafka cannot be reached, keeps trying, with a growing pause."""
        if self._producer is not None and not self._replace_producer:
            return self._producer
        await self._stop_producer()
        failures = 0
        while True:
            producer = new_producer(self._bootstrap, request_timeout_ms=self._config.send_timeout_ms)
            try:
                await producer.start()
            except (KafkaError, OSError) as error:
                await producer.stop()
                failures += 1
                pause = retry_pause(failures, self._config)
                log.warning("relay_producer_unavailable", schema=self._schema, error=repr(error), retry_in=pause)
                await asyncio.sleep(pause)
                continue
            self._producer, self._replace_producer = producer, False
            return producer

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception as error:  # a broken producer is dropped all the same
                log.warning("relay_producer_stop_failed", schema=self._schema, error=repr(error))

    async def _report(self, connection: asyncpg.Connection) -> None:
        """Every `report_interval`: the backlog, the rows retrying and the rows set aside, for dashboards and
        alerts; while any row is set aside, a warning says so."""
        now = time.monotonic()
        if now - self._last_report < self._config.report_interval:
            return
        self._last_report = now
        counts = await connection.fetchrow(_BACKLOG)
        OUTBOX_BACKLOG.labels(self._schema).set(counts["pending"])
        OUTBOX_RETRYING.labels(self._schema).set(counts["retrying"])
        OUTBOX_PARKED.labels(self._schema).set(counts["set_aside"])
        if counts["set_aside"]:
            log.warning(
                "outbox_rows_set_aside",
                schema=self._schema,
                count=counts["set_aside"],
                replay=f"python -m libs.events set-aside --schema {self._schema}",
            )


def line_relays(dsn: str, *, service: str, lines: Iterable[BusinessLine], bootstrap_servers: str) -> list[OutboxRelay]:
    """One relay per served line, each publishing that line's schema's outbox."""
    return [
        OutboxRelay(dsn=dsn, schema=schema_name(service, line), bootstrap_servers=bootstrap_servers)
        for line in sorted(lines)
    ]
