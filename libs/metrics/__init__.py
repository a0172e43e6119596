"""Prometheus metrics shared by every service: request counts and latencies, outbox backlog, consumer lag
(in messages per partition, and in time per event), durable jobs' failed batches and set-aside rows.

Each process exposes them on METRICS_PORT (when set) for the platform's Prometheus to scrape.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_REQUESTS = Counter("rpc_requests_total", "gRPC calls handled", ["method", "code"])
RPC_LATENCY = Histogram(
    "rpc_latency_seconds",
    "gRPC call latency",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTBOX_BACKLOG = Gauge("outbox_backlog_events", "Outbox rows not yet published", ["schema"])
OUTBOX_RETRYING = Gauge(
    "outbox_retrying_events", "Outbox rows waiting for a retry after a transient delivery failure", ["schema"]
)
# Kept under its first name for existing alerts: rows set aside are rows Kafka refused for good.
OUTBOX_PARKED = Gauge(
    "outbox_parked_events", "Outbox rows set aside after Kafka refused them, until an operator replays them", ["schema"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Events published by the outbox relay", ["schema"])
CONSUMER_LAG = Gauge(
    "consumer_lag_messages", "Messages behind the end of the partition", ["group", "topic", "partition"]
)
CONSUMED = Counter("consumer_events_total", "Events consumed", ["group", "outcome"])
# From an event's commit (its occurred_at, stamped in the committing transaction) to a consumer applying it.
EVENT_LAG = Histogram(
    "consumer_event_lag_seconds",
    "Time from an event's commit to its handler",
    ["group", "topic"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
JOB_ROWS_SET_ASIDE = Counter(
    "job_rows_set_aside_total", "Rows a durable job set aside after they failed for a reason of their own",
    ["service", "job"],
)  # fmt: skip
JOB_BATCHES_FAILED = Counter(
    "job_batches_failed_total", "Batches of a durable job rolled back by an error and tried again", ["service", "job"]
)


def serve_metrics(port: int | None, host: str) -> None:
    """Start the scrape endpoint in a background thread; no-op when no port is configured."""
    if port is not None:
        start_http_server(port, addr=host)
