"""Client helper: channels with 1 MiB limits, a deadline on every call, tracing, caller credentials, and
gRPC's own retry policy on UNAVAILABLE for the methods the caller names as idempotent (never others).

A call waits for its channel to connect, up to its deadline, rather than failing at once while the server
it names restarts (wait for ready): that is safe for every method, idempotent or not, for nothing is sent
before the connection is up. The channel tries to reconnect every 0.1 s doubling to 2 s, so a restarted
server is found within about two seconds of answering again."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from libs.grpckit.server import MAX_MESSAGE_BYTES
from libs.grpckit.tls import ClientTls, channel_credentials, client_tls

MetadataProvider = Callable[[], Sequence[tuple[str, str]]]
RECONNECT_FIRST_MS, RECONNECT_MAX_MS = 100, 2000


def service_token_metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


class _CallDefaults(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # grpc has no stubs
    """Adds a deadline when the caller set none, and the caller's credentials metadata."""

    def __init__(self, default_timeout: float, metadata: MetadataProvider | None, wait_for_ready: bool):
        self._timeout = default_timeout
        self._metadata = metadata
        self._wait_for_ready = wait_for_ready

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if self._metadata is not None and "authorization" not in metadata:
            for key, value in self._metadata():
                metadata.add(key, value)
        details = grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=self._timeout if details.timeout is None else details.timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=self._wait_for_ready if details.wait_for_ready is None else details.wait_for_ready,
        )
        return await continuation(details, request)


def _retry_service_config(idempotent_methods: Sequence[str]) -> str:
    """gRPC service config retrying UNAVAILABLE for the named methods ("pkg.Service/Method" or
    "pkg.Service" for all of a service's methods)."""
    names = []
    for method in idempotent_methods:
        service, _, name = method.strip("/").partition("/")
        names.append({"service": service, "method": name} if name else {"service": service})
    config = {
        "methodConfig": [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
        if names
        else []
    }
    return json.dumps(config)


def open_channel(
    target: str,
    *,
    idempotent_methods: Sequence[str] = (),
    default_timeout: float = 2.0,
    metadata: MetadataProvider | None = None,
    max_send_bytes: int = MAX_MESSAGE_BYTES,
    tls: ClientTls | None = None,
    wait_for_ready: bool = True,
) -> grpc.aio.Channel:
    """A channel with the platform's call defaults: TLS as `tls` says, else as this process is configured
    (libs.grpckit.tls.use_client_tls, from TLS_CA_FILE), else plaintext. `wait_for_ready=False` makes a
    call fail at once (UNAVAILABLE) while nothing answers, for callers that would rather know now."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", max_send_bytes),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", _retry_service_config(idempotent_methods)),
        # Every address the name resolves to (a headless Service's pods), calls spread over them.
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_FIRST_MS),
        ("grpc.min_reconnect_backoff_ms", RECONNECT_FIRST_MS),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_MAX_MS),
    ]
    interceptors = [_CallDefaults(default_timeout, metadata, wait_for_ready), *aio_client_interceptors()]  # type: ignore[no-untyped-call]  # untyped library
    tls = tls or client_tls()
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, channel_credentials(tls), options=options, interceptors=interceptors)
