"""One trace from a gRPC call through the outbox and Kafka into the consumer, visible in the logs."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pingou.testkit.v1 import notes_pb2, notes_pb2_grpc

from libs.auth.local import LocalKeys
from libs.grpckit import open_channel, service_token_metadata
from tests.conftest import Infra, Mint
from tests.support.notes import notes_settings, running_notes
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


class JsonLines(logging.Handler):
    """Keeps the rendered JSON log lines, as an operator's log pipeline would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.getLogger().handlers[0].formatter)
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_one_trace_spans_call_outbox_kafka_and_consumer_and_the_logs(
    infra: Infra, database_url: str, keys: LocalKeys, topic_prefix: str, mint: Mint, spans: InMemorySpanExporter
) -> None:
    logs = JsonLines()
    logging.getLogger().addHandler(logs)
    settings = notes_settings(
        database_url=database_url,
        kafka=infra.kafka_bootstrap,
        key_set_file=str(keys.key_set_file),
        topic_prefix=topic_prefix + "trace.",
    )
    try:
        async with running_notes(settings) as server, open_channel(f"127.0.0.1:{server.port}") as channel:
            with trace.get_tracer("tests").start_as_current_span("client request") as root:
                trace_id = format(root.get_span_context().trace_id, "032x")
                note = await notes_pb2_grpc.NoteServiceStub(channel).CreateNote(
                    notes_pb2.CreateNoteRequest(text="traced"),
                    metadata=service_token_metadata(mint(subject="tracer")),
                )

            def consumer_spans() -> list[object]:
                return [s for s in spans.get_finished_spans() if s.name.startswith("consume ")]

            async def consumed() -> list[object]:
                return consumer_spans()

            await eventually(consumed)
    finally:
        logging.getLogger().removeHandler(logs)

    by_name = {span.name: span for span in spans.get_finished_spans()}
    server_span = by_name["/pingou.testkit.v1.NoteService/CreateNote"]
    assert format(server_span.context.trace_id, "032x") == trace_id
    consumer_span = consumer_spans()[0]
    assert format(consumer_span.context.trace_id, "032x") == trace_id  # type: ignore[attr-defined]
    rpc_lines = [line for line in logs.lines if line.get("event") == "rpc" and line.get("trace_id") == trace_id]
    assert rpc_lines
    assert rpc_lines[0]["method"] == "/pingou.testkit.v1.NoteService/CreateNote"
    effect_lines = [line for line in logs.lines if line.get("event") == "note_counted"]
    assert effect_lines
    assert effect_lines[0]["trace_id"] == trace_id
    assert effect_lines[0]["note_id"] == note.note_id
