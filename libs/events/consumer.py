"""The idempotent consumer: each event's effect and its inbox row commit in one transaction, offsets
are committed only after that, and poison messages go to the dead-letter topic with the error.

The events of a polled batch are applied together, in one transaction (one inbox statement for all of
them, then each handler in order on the same connection, or all of them in one call of `apply_together`
where a consumer has set-based effects): a transaction per event costs more than most effects. Should any
of them fail, the batch is rolled back and its events applied one by one, each in its own transaction with
its own retries, so one bad event still costs only itself.

A message is poison when it is not an envelope, its payload does not decode, or its handler keeps
failing on it (`max_attempts`). Infrastructure errors (Postgres unreachable, a serialization conflict)
are not the message's fault: those are retried without limit and the offset does not move.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from google.protobuf.message import DecodeError, Message
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pingou.events.v1 import envelope_pb2

from libs.core import Unavailable
from libs.events.envelope import dead_letter_topic
from libs.events.relay import new_producer
from libs.logs import get_logger
from libs.metrics import CONSUMED, CONSUMER_LAG
from libs.tracing import extract_context

log = get_logger(__name__)
_tracer = trace.get_tracer(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    Unavailable,  # the platform's own "a dependency did not answer"
    KafkaError,
)

INBOX_PURGE_EVERY = 600.0  # seconds
_PURGE = "DELETE FROM inbox WHERE consumer = $1 AND handled_at < now() - $2::interval"


def is_transient(error: BaseException) -> bool:
    """Not the message's fault: a dependency is down or busy, so retry without limit and keep the offset."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return False


_CLAIM = """
INSERT INTO inbox (consumer, event_id, topic, partition, "offset") VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING RETURNING true
"""
_CLAIM_MANY = """
INSERT INTO inbox (consumer, event_id, topic, partition, "offset")
SELECT $1, e.event_id, e.topic, e.partition, e.position
FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS e(event_id, topic, partition, position)
ON CONFLICT DO NOTHING RETURNING event_id
"""
# Events applied in one transaction at most: a batch holds its effects' row locks until it commits.
APPLY_BATCH = 100


@dataclass(frozen=True, slots=True)
class ConsumedEvent:
    envelope: envelope_pb2.EventEnvelope
    payload: Message
    topic: str
    partition: int
    offset: int


Handler = Callable[[asyncpg.Connection, ConsumedEvent], Awaitable[None]]
# Applies many events at once (a statement per kind of effect, not per event), in one transaction.
ApplyTogether = Callable[[asyncpg.Connection, Sequence[ConsumedEvent]], Awaitable[None]]


def _producer_links(batch: Sequence[tuple[ConsumerRecord[Any, Any], ConsumedEvent]]) -> list[trace.Link]:
    """Links from a batch's one span to the span that produced each of its events."""
    contexts = [trace.get_current_span(extract_context(record.headers)).get_span_context() for record, _ in batch]
    return [trace.Link(context) for context in contexts if context.is_valid]


class PoisonMessage(Exception):
    """The message can never be handled; it goes to the dead-letter topic."""


class IdempotentConsumer:
    def __init__(
        self,
        *,
        name: str,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        topics: Sequence[str],
        handlers: Mapping[type[Message], Handler],
        max_attempts: int = 3,
        retry_pause: float = 0.2,
        inbox_retention: timedelta = timedelta(days=14),  # longer than any topic's retention (7 days)
        apply_together: ApplyTogether | None = None,
    ):
        self.name = name  # the consumer group and the inbox scope
        self._pool = pool
        self._bootstrap = bootstrap_servers
        self._topics = list(topics)
        self._handlers = {message_type.DESCRIPTOR.full_name: (message_type, h) for message_type, h in handlers.items()}
        self._max_attempts = max_attempts
        self._retry_pause = retry_pause
        self._inbox_retention = inbox_retention
        # Given, the new events of a batch go to it in one call (in their order) rather than to their handlers
        # one by one; `handlers` still names the types consumed and applies an event alone when the batch is
        # retried one event at a time.
        self._apply_many = apply_together
        self._positions: dict[TopicPartition, int] = {}
        self._last_purge = time.monotonic()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
            # Its background fetcher wakes on every answer, consumption and rebalance; this is only how often
            # it looks without one (the default 200 ms made an idle consumer wake five times a second).
            consumer_timeout_ms=1_000,
            # fetch_max_wait_ms stays 500: a longer hold of an empty fetch kept a partition whose records
            # had just been handed over from being fetched again (one fetch per broker in flight), and
            # tripled the event lag under load.
        )
        producer = new_producer(self._bootstrap)
        try:
            await consumer.start()
            await producer.start()
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for partition, records in batches.items():
                    for first in range(0, len(records), APPLY_BATCH):
                        await self._consume_batch(records[first : first + APPLY_BATCH], producer)
                    await self._commit(consumer, partition, records[-1].offset + 1)
                self._report_lag(consumer)
                await self._purge_inbox()
        finally:
            await consumer.stop()
            await producer.stop()

    async def _commit(self, consumer: AIOKafkaConsumer, partition: TopicPartition, next_offset: int) -> None:
        """Only now is every effect of these records durable: move the group's offset past them."""
        try:
            await consumer.commit({partition: next_offset})
        except CommitFailedError as error:
            # A rebalance took the partition away; its new owner re-reads these records and the inbox
            # skips their effects. Nothing is lost by carrying on.
            log.warning("consumer_commit_failed", consumer=self.name, partition=str(partition), error=str(error))
            return
        self._positions[partition] = next_offset

    def _report_lag(self, consumer: AIOKafkaConsumer) -> None:
        for partition in consumer.assignment():
            highwater, position = consumer.highwater(partition), self._positions.get(partition)
            if highwater is not None and position is not None:
                CONSUMER_LAG.labels(self.name, partition.topic, str(partition.partition)).set(
                    max(0, highwater - position)
                )

    async def _purge_inbox(self) -> None:
        """Now and then, forget events older than any redelivery (the topics' retention is shorter)."""
        now = time.monotonic()
        if now - self._last_purge < INBOX_PURGE_EVERY:
            return
        self._last_purge = now
        await self._pool.execute(_PURGE, self.name, self._inbox_retention)

    async def _consume_batch(self, records: Sequence[ConsumerRecord[Any, Any]], producer: Any) -> None:
        """One partition's records, in order: undecodable ones dead-lettered, the rest applied together
        in one transaction, or one by one when the batch as a whole fails."""
        batch: list[tuple[ConsumerRecord[Any, Any], ConsumedEvent]] = []
        seen: set[uuid.UUID] = set()
        for record in records:
            try:
                event = self._decode(record)
            except PoisonMessage as error:
                await self._dead_letter(record, producer, str(error))
                continue
            if event is None:
                CONSUMED.labels(self.name, "ignored").inc()
            elif (event_id := uuid.UUID(event.envelope.event_id)) in seen:  # sent twice, close together
                CONSUMED.labels(self.name, "duplicate").inc()
            else:
                seen.add(event_id)
                batch.append((record, event))
        if len(batch) > 1:
            try:
                handled = await self._apply_together(batch)
            except Exception as error:
                log.info("consumer_batch_one_by_one", consumer=self.name, events=len(batch), error=repr(error))
            else:
                CONSUMED.labels(self.name, "handled").inc(handled)
                CONSUMED.labels(self.name, "duplicate").inc(len(batch) - handled)
                return
        for record, _ in batch:
            await self._consume(record, producer)

    async def _apply_together(self, batch: Sequence[tuple[ConsumerRecord[Any, Any], ConsumedEvent]]) -> int:
        """Every event's effect and inbox row in one transaction; how many were new."""
        events = [event for _, event in batch]
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                _CLAIM_MANY,
                self.name,
                [uuid.UUID(event.envelope.event_id) for event in events],
                [event.topic for event in events],
                [event.partition for event in events],
                [event.offset for event in events],
            )
            claimed = {row["event_id"] for row in rows}
            new = [(record, event) for record, event in batch if uuid.UUID(event.envelope.event_id) in claimed]
            if self._apply_many is not None and new:
                with _tracer.start_as_current_span(
                    f"consume {new[0][0].topic}", links=_producer_links(new), kind=SpanKind.CONSUMER
                ):
                    await self._apply_many(connection, [event for _, event in new])
                return len(claimed)
            for record, event in new:
                _, handler = self._handlers[event.envelope.payload.TypeName()]
                with _tracer.start_as_current_span(
                    f"consume {record.topic}", context=extract_context(record.headers), kind=SpanKind.CONSUMER
                ):
                    await handler(connection, event)
        return len(claimed)

    async def _consume(self, record: ConsumerRecord[Any, Any], producer: Any) -> None:
        with _tracer.start_as_current_span(
            f"consume {record.topic}", context=extract_context(record.headers), kind=SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.destination.name", record.topic)
            span.set_attribute("messaging.kafka.offset", record.offset)
            try:
                event = self._decode(record)
                if event is None:
                    CONSUMED.labels(self.name, "ignored").inc()
                    return
                outcome = await self._apply_with_retries(event)
                CONSUMED.labels(self.name, outcome).inc()
            except PoisonMessage as error:
                await self._dead_letter(record, producer, str(error))

    def _decode(self, record: ConsumerRecord[Any, Any]) -> ConsumedEvent | None:
        envelope = envelope_pb2.EventEnvelope()
        try:
            envelope.ParseFromString(record.value or b"")
            uuid.UUID(envelope.event_id)
        except (DecodeError, ValueError) as error:
            raise PoisonMessage(f"not an event envelope: {error}") from None
        registered = self._handlers.get(envelope.payload.TypeName())
        if registered is None:
            return None  # an event type this consumer does not act on
        payload = registered[0]()
        if not envelope.payload.Unpack(payload):
            raise PoisonMessage(f"payload is not a {envelope.payload.TypeName()}")
        return ConsumedEvent(envelope, payload, record.topic, record.partition, record.offset)

    async def _apply_with_retries(self, event: ConsumedEvent) -> str:
        failures = transient_failures = 0
        while True:
            try:
                return await self._apply(event)
            except Exception as error:
                if is_transient(error):
                    log.warning("consumer_transient_error", consumer=self.name, error=repr(error))
                    await asyncio.sleep(min(5.0, self._retry_pause * 2**transient_failures))
                    transient_failures = min(transient_failures + 1, 5)
                    continue
                failures += 1
                log.warning("consumer_handler_failed", consumer=self.name, attempt=failures, error=repr(error))
                if failures >= self._max_attempts:
                    raise PoisonMessage(f"handler failed {failures} times: {error!r}") from error
                await asyncio.sleep(self._retry_pause)

    async def _apply(self, event: ConsumedEvent) -> str:
        _, handler = self._handlers[event.envelope.payload.TypeName()]
        async with self._pool.acquire() as connection, connection.transaction():
            claimed = await connection.fetchval(
                _CLAIM,
                self.name,
                uuid.UUID(event.envelope.event_id),
                event.topic,
                event.partition,
                event.offset,
            )
            if not claimed:
                return "duplicate"
            await handler(connection, event)
        return "handled"

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], producer: Any, error: str) -> None:
        log.error("consumer_dead_letter", consumer=self.name, topic=record.topic, offset=record.offset, error=error)
        headers = [
            *(record.headers or ()),
            ("dlq.error", error.encode()[:4000]),
            ("dlq.consumer", self.name.encode()),
            ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        delivery = await producer.send(
            dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
        )
        await delivery  # durable in the dead-letter topic before the offset moves past it
        CONSUMED.labels(self.name, "dead_lettered").inc()
