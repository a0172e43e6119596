"""OpenTelemetry tracing: provider set-up, and trace context carried in Kafka headers.

gRPC calls are traced by the OpenTelemetry gRPC interceptors (wired by libs.grpckit). Events carry the
producing request's W3C `traceparent` in their Kafka headers (captured when the outbox row is written),
and the consumer starts its span as a child of it, so one trace spans call -> outbox -> Kafka -> consumer.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider: TracerProvider | None = None


def configure_tracing(
    service: str,
    *,
    otlp_endpoint: str | None = None,
    extra_processors: Iterable[SpanProcessor] = (),
) -> TracerProvider:
    """Install the process-wide tracer provider once; later calls add processors to the same one."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        if otlp_endpoint:
            # Imported here: the exporter pulls in its own gRPC stack, needed only when exporting.
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
        trace.set_tracer_provider(_provider)
    for processor in extra_processors:
        _provider.add_span_processor(processor)
    return _provider


def inject_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers (empty when no span is recording)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()]


def extract_context(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context carried by Kafka headers, as a parent for the consumer's span."""
    carrier = {name: value.decode(errors="replace") for name, value in headers or ()}
    return propagate.extract(carrier)


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
