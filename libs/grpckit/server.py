"""Server bootstrap: a grpc.aio server with health, reflection, the platform interceptor (with the call's span),
1 MiB message limits, background workers and graceful SIGTERM (NOT_SERVING, drain, exit)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from libs.auth import TokenVerifier
from libs.grpckit.access import Access
from libs.grpckit.interceptors import PlatformInterceptor
from libs.grpckit.reflection import enable_reflection
from libs.grpckit.tls import ClientTls, ServerTls, server_credentials, use_client_tls
from libs.grpckit.validation import Validator
from libs.logs import get_logger
from libs.metrics import serve_metrics
from libs.settings import ServiceSettings

log = get_logger(__name__)

MAX_MESSAGE_BYTES = 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),  # a second instance on the same port must fail, not share it silently
]

Worker = Callable[[], Awaitable[None]]


@dataclass
class GrpcApp:
    """What a service hands to the bootstrap: its servicers and the work that runs beside them."""

    name: str
    register: Callable[[grpc.aio.Server], None]
    service_names: Sequence[str]
    validators: Mapping[str, Validator] = field(default_factory=dict)
    # Who may call each method (libs.grpckit.access); a method without a rule keeps the server from starting.
    access: Mapping[str, Access] = field(default_factory=dict)
    # Full names of free-text request fields where line breaks and tabs are allowed (libs.grpckit.wellformed).
    multiline_fields: Collection[str] = ()
    workers: Sequence[Worker] = ()  # long-running loops: outbox relays, event consumers, timers
    on_stop: Sequence[Worker] = ()  # run once after the server has drained (close pools, producers)


class RunningServer:
    def __init__(self, app: GrpcApp, settings: ServiceSettings):
        self.app = app
        self.settings = settings
        self.health = health_aio.HealthServicer()
        self.server = grpc.aio.server(
            interceptors=[
                PlatformInterceptor(
                    verifier=TokenVerifier.from_file(settings.jwt_key_set_file),
                    served_lines=settings.served_lines,
                    validators=app.validators,
                    access=app.access,
                    callers=named_callers(app, settings),
                    multiline_fields=app.multiline_fields,
                ),
            ],
            options=SERVER_OPTIONS,
        )
        self._workers: list[asyncio.Task[None]] = []
        self.port = 0

    async def start(self) -> int:
        check_every_method_validated(self.app)
        check_every_method_authorized(self.app)
        self.app.register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        enable_reflection(
            [*self.app.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], self.server
        )
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        tls = server_tls(self.settings)
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, server_credentials(tls))
        await self.server.start()
        self._workers = [asyncio.create_task(self._supervise(worker)) for worker in self.app.workers]
        for name in ("", *self.app.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("server_started", address=f"{self.settings.grpc_host}:{self.port}", service=self.app.name)
        return self.port

    async def stop(self) -> None:
        """Graceful stop: stop advertising, let in-flight calls finish (up to the grace), then workers."""
        await self.health.enter_graceful_shutdown()
        await asyncio.sleep(self.settings.shutdown_drain_seconds)
        await self.server.stop(self.settings.shutdown_grace_seconds)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for hook in self.app.on_stop:
            await hook()
        log.info("server_stopped", service=self.app.name)

    async def _supervise(self, worker: Worker) -> None:
        """Keep a worker alive: log and restart it after a pause if it fails, until the server stops."""
        while True:
            try:
                await worker()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker_failed", worker=getattr(worker, "__qualname__", repr(worker)))
                await asyncio.sleep(1.0)


async def run_app(build: Callable[[], Awaitable[GrpcApp]], settings: ServiceSettings) -> None:
    """Build the app, serve until SIGTERM or SIGINT, then shut down gracefully. The signal handlers are
    installed first, so a stop requested while migrations run is honoured instead of killing the process."""
    use_client_tls(client_tls_of(settings))  # before build(): the app opens its channels there
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    app = await build()
    if stop.is_set():
        log.info("stopped_before_serving", service=app.name)
        for hook in app.on_stop:
            await hook()
        return
    serve_metrics(settings.metrics_port, settings.grpc_host)
    running = RunningServer(app, settings)
    await running.start()
    await stop.wait()
    log.info("shutdown_requested", grace_seconds=settings.shutdown_grace_seconds)
    await running.stop()


def server_tls(settings: ServiceSettings) -> ServerTls | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return ServerTls(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)


def client_tls_of(settings: ServiceSettings) -> ClientTls | None:
    if settings.tls_ca_file is None:
        return None
    return ClientTls(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)


def method_names(app: GrpcApp) -> list[str]:
    """The full names (`/pingou.x.v1.XService/Method`) of every method of the app's services."""
    pool = descriptor_pool.Default()
    return [
        f"/{service}/{method.name}"
        for service in app.service_names
        for method in pool.FindServiceByName(service).methods
    ]


def check_every_method_validated(app: GrpcApp) -> None:
    """Every method of the app's services must have a validator: a forgotten one fails at start, not in
    production with an unchecked request."""
    missing = [name for name in method_names(app) if name not in app.validators]
    if missing:
        raise ValueError(f"{app.name}: methods without a request validator: {', '.join(missing)}")


def check_every_method_authorized(app: GrpcApp) -> None:
    """Every method must have an access rule: a new RPC without one fails at start, never serves."""
    missing = [name for name in method_names(app) if name not in app.access]
    if missing:
        raise ValueError(f"{app.name}: methods without an access rule: {', '.join(missing)}")


def named_callers(app: GrpcApp, settings: ServiceSettings) -> dict[str, frozenset[str]]:
    """The service identities named by each setting the app's access rules refer to (`lease_callers`):
    ValueError naming a setting the service does not have."""
    found: dict[str, frozenset[str]] = {}
    for method, rule in app.access.items():
        if rule.callers is None or rule.callers in found:
            continue
        value = getattr(settings, rule.callers, None)
        if not isinstance(value, frozenset) or not all(isinstance(name, str) for name in value):
            raise ValueError(f"{app.name}: {method} names its callers by {rule.callers!r}, not a setting of services")
        found[rule.callers] = value
    return found
