from __future__ import annotations

import json
import logging

import structlog
from opentelemetry import trace

from libs.logs import add_trace_context


def test_log_lines_carry_the_current_trace_and_span() -> None:
    with trace.get_tracer("tests").start_as_current_span("work") as span:
        event = add_trace_context(None, "info", {"event": "x"})
    assert event["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert event["span_id"] == format(span.get_span_context().span_id, "016x")


def test_outside_a_span_no_trace_id_is_invented() -> None:
    assert "trace_id" not in add_trace_context(None, "info", {"event": "x"})


def test_lines_are_json_with_the_bound_request_context() -> None:
    formatter = logging.getLogger().handlers[0].formatter
    captured: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            assert formatter is not None
            captured.append(formatter.format(record))

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        with structlog.contextvars.bound_contextvars(request_id="r-1", principal="p-9"):
            structlog.stdlib.get_logger("t").info("joined", group_id="g-1")
    finally:
        logging.getLogger().removeHandler(keep)
    line = json.loads(captured[0])
    assert (line["event"], line["request_id"], line["principal"], line["group_id"]) == (
        "joined",
        "r-1",
        "p-9",
        "g-1",
    )
    assert line["level"] == "info"
    assert "timestamp" in line
