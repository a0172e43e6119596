"""Wiring, use cases and gRPC servicer of the notes test service (small enough for one file)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import grpc
from pingou.testkit.v1 import notes_pb2, notes_pb2_grpc

from libs.auth import current_principal
from libs.core import BusinessLine, NotFound, Unavailable
from libs.database import close_pools, create_line_pools, migrate, schema_name
from libs.events import MIGRATIONS as EVENT_MIGRATIONS
from libs.events import (
    ConsumedEvent,
    IdempotentConsumer,
    append_event,
    ensure_topics,
    line_relays,
    topic_name,
)
from libs.grpckit import GrpcApp, Violations
from libs.grpckit.access import ANY_ROLE, CALLERS_LINE, Access
from libs.grpckit.server import Worker
from libs.logs import get_logger
from libs.settings import ServiceSettings

SERVICE = "notes"
MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)
FULL_NAME = notes_pb2.DESCRIPTOR.services_by_name["NoteService"].full_name
# Any caller, on its own line's notes.
ACCESS = {
    f"/{FULL_NAME}/{method}": Access(roles=ANY_ROLE, line=CALLERS_LINE) for method in ("CreateNote", "GetNote", "Echo")
}


class NotesSettings(ServiceSettings):
    service_name: str = SERVICE
    embedded_relay: bool = True
    embedded_consumer: bool = True


def validate_create(request: notes_pb2.CreateNoteRequest) -> None:
    problems = Violations()
    problems.text("text", request.text, max_length=200)
    problems.raise_if_any()


def validate_get(request: notes_pb2.GetNoteRequest) -> None:
    problems = Violations()
    problems.identifier("note_id", request.note_id)
    problems.raise_if_any()


def validate_echo(request: notes_pb2.EchoRequest) -> None:
    problems = Violations()
    problems.number("delay_ms", request.delay_ms, minimum=0, maximum=30_000)
    problems.number("unavailable_times", request.unavailable_times, minimum=0, maximum=10)
    problems.text("attempt_key", request.attempt_key, min_length=0, max_length=64)
    problems.raise_if_any()


class NoteServicer(notes_pb2_grpc.NoteServiceServicer):
    def __init__(self, pools: dict[BusinessLine, asyncpg.Pool], topic_prefix: str):
        self._pools = pools
        self._prefix = topic_prefix
        self._echo_attempts: dict[str, int] = {}

    async def CreateNote(
        self, request: notes_pb2.CreateNoteRequest, context: grpc.aio.ServicerContext
    ) -> notes_pb2.Note:
        principal = current_principal()
        note_id = uuid.uuid4()
        async with self._pools[principal.line].acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO notes (note_id, author, text) VALUES ($1, $2, $3)",
                note_id,
                principal.subject,
                request.text,
            )
            await append_event(
                connection,
                topic=topic_name(principal.line, "note", prefix=self._prefix),
                aggregate_id=str(note_id),
                line=principal.line,
                payload=notes_pb2.NoteCreated(note_id=str(note_id), author=principal.subject, text=request.text),
            )
        return notes_pb2.Note(note_id=str(note_id), author=principal.subject, text=request.text)

    async def GetNote(self, request: notes_pb2.GetNoteRequest, context: grpc.aio.ServicerContext) -> notes_pb2.Note:
        principal = current_principal()
        row = await self._pools[principal.line].fetchrow(
            "SELECT note_id, author, text FROM notes WHERE note_id = $1", uuid.UUID(request.note_id)
        )
        if row is None:
            raise NotFound(f"no note {request.note_id}", reason="NOTE_NOT_FOUND")
        return notes_pb2.Note(note_id=str(row["note_id"]), author=row["author"], text=row["text"])

    async def Echo(self, request: notes_pb2.EchoRequest, context: grpc.aio.ServicerContext) -> notes_pb2.EchoReply:
        attempts = self._echo_attempts[request.attempt_key] = self._echo_attempts.get(request.attempt_key, 0) + 1
        if attempts <= request.unavailable_times:
            raise Unavailable(f"attempt {attempts} refused on purpose", reason="TEST_UNAVAILABLE")
        await asyncio.sleep(request.delay_ms / 1000)
        return notes_pb2.EchoReply(payload=request.payload)


async def count_note(connection: asyncpg.Connection, event: ConsumedEvent) -> None:
    assert isinstance(event.payload, notes_pb2.NoteCreated)
    log.info("note_counted", note_id=event.payload.note_id, author=event.payload.author)
    await connection.execute(
        "INSERT INTO note_stats (author, notes) VALUES ($1, 1) "
        "ON CONFLICT (author) DO UPDATE SET notes = note_stats.notes + 1",
        event.payload.author,
    )


def migrate_all(settings: NotesSettings) -> None:
    for line in settings.served_lines:
        migrate(settings.database_url, schema=schema_name(SERVICE, line), sources=[EVENT_MIGRATIONS, MIGRATIONS])


async def build_app(settings: NotesSettings) -> GrpcApp:
    lines = sorted(settings.served_lines)
    await asyncio.to_thread(migrate_all, settings)
    topics = [topic_name(line, "note", prefix=settings.kafka_topic_prefix) for line in lines]
    await ensure_topics(settings.kafka_bootstrap_servers, topics, replication_factor=settings.kafka_replication_factor)
    pools = await create_line_pools(
        settings.database_url, service=SERVICE, lines=lines, max_size=settings.database_pool_size
    )
    workers: list[Worker] = []
    if settings.embedded_relay:
        relays = line_relays(
            settings.database_url, service=SERVICE, lines=lines, bootstrap_servers=settings.kafka_bootstrap_servers
        )
        workers += [relay.run for relay in relays]
    if settings.embedded_consumer:
        workers += [
            IdempotentConsumer(
                name=f"{settings.kafka_topic_prefix}notes-stats-{line}",
                pool=pools[line],
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topics=[topic_name(line, "note", prefix=settings.kafka_topic_prefix)],
                handlers={notes_pb2.NoteCreated: count_note},
            ).run
            for line in lines
        ]

    servicer = NoteServicer(pools, settings.kafka_topic_prefix)
    return GrpcApp(
        name=SERVICE,
        register=lambda server: notes_pb2_grpc.add_NoteServiceServicer_to_server(servicer, server),
        service_names=[FULL_NAME],
        validators={
            f"/{FULL_NAME}/CreateNote": validate_create,
            f"/{FULL_NAME}/GetNote": validate_get,
            f"/{FULL_NAME}/Echo": validate_echo,
        },
        access=ACCESS,
        workers=workers,
        on_stop=[lambda: close_pools(pools)],
    )
