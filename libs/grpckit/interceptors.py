"""The platform's server interceptor: the call's span, authentication, line check, validation (what every
request must be, `wellformed`, then the method's own validator), the method's access rule (`access.py`),
error mapping, one log line and metrics per call. Each method's handler is wrapped once, when its first
call comes, and the wrapper is kept: a call pays for one Python frame, not for building a handler.

The span is started here rather than by OpenTelemetry's own gRPC server interceptor: one layer less on
every call (the trace context still comes from the caller's `traceparent` metadata)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import asyncpg
import grpc
import structlog
from google.protobuf.message import DecodeError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from libs.auth import Principal, TokenVerifier, use_principal
from libs.core import BusinessLine, DomainError, InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from libs.grpckit.access import Access, Admitted
from libs.grpckit.errors import status_for
from libs.grpckit.validation import Validator
from libs.grpckit.wellformed import WellFormed
from libs.logs import get_logger
from libs.metrics import RPC_LATENCY, RPC_REQUESTS

# What a handler meets when its database is away (restarting, refusing connections, out of them) or when
# its transaction lost to another (a deadlock, a serialization failure): not the request's fault, so
# UNAVAILABLE, which callers may retry, rather than INTERNAL.
_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection lost mid-call
    asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up, a statement cancelled
    asyncpg.InsufficientResourcesError,  # class 53: too many connections
    asyncpg.InternalClientError,  # a connection broken in the middle of an operation
    ConnectionError,
    TimeoutError,  # no pooled connection in time
)
DATABASE_UNAVAILABLE = Unavailable("the service's database did not answer; retry", reason="DATABASE_UNAVAILABLE")
DATABASE_CONFLICT = Unavailable("the transaction lost to a concurrent one; retry", reason="DATABASE_CONFLICT")


def database_outage(error: BaseException) -> Unavailable | None:
    """The UNAVAILABLE a database failure that is not the request's fault answers, or None."""
    if isinstance(error, asyncpg.TransactionRollbackError):  # class 40: deadlock, serialization failure
        return DATABASE_CONFLICT
    if isinstance(error, _OUTAGES):
        return DATABASE_UNAVAILABLE
    # A closed connection ("cannot call Transaction.rollback(): the underlying connection is closed"); not
    # DataError, an argument its column refuses, which is the request's.
    if isinstance(error, asyncpg.InterfaceError) and not isinstance(error, asyncpg.DataError):
        return DATABASE_UNAVAILABLE
    return None


log = get_logger("rpc")
_tracer = trace.get_tracer(__name__)

# Infrastructure endpoints answer without a token, as Kubernetes probes and grpcurl expect.
PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class PlatformInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no type stubs
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        served_lines: Collection[BusinessLine],
        validators: Mapping[str, Validator],
        access: Mapping[str, Access],
        callers: Mapping[str, frozenset[str]],
        multiline_fields: Collection[str] = (),
    ):
        self._verifier = verifier
        self._well_formed = WellFormed(multiline_fields=multiline_fields)
        self._served_lines = frozenset(served_lines)
        self._validators = dict(validators)
        self._access = dict(access)
        self._callers = dict(callers)  # setting name (`lease_callers`) -> the service identities it names
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary is None:
            # Secure by default: a streaming method would otherwise skip authentication entirely.
            wrapped = grpc.unary_unary_rpc_method_handler(_streaming_refused)
        else:
            # The body is decoded inside the wrapper, so a malformed one is INVALID_ARGUMENT (and logged
            # and counted like any call) rather than gRPC's own UNKNOWN.
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._wrap(method, handler.unary_unary, handler.request_deserializer),
                request_deserializer=None,
                response_serializer=handler.response_serializer,
            )
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, method: str, behavior: UnaryBehavior, deserialize: Callable[[bytes], Any] | None) -> UnaryBehavior:
        validator = self._validators.get(method)
        rule = self._access.get(method)
        named = rule.callers if rule is not None else None
        # A setting the server did not resolve names no one: fail closed.
        callers = self._callers.get(named, frozenset()) if named is not None else frozenset()
        well_formed = self._well_formed.check
        service, _, name = method.lstrip("/").partition("/")
        span_attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}

        async def handle(body: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            metadata = dict(context.invocation_metadata() or ())
            request_id = str(metadata.get("x-request-id") or uuid.uuid4())
            structlog.contextvars.bind_contextvars(request_id=request_id, method=method)
            code = grpc.StatusCode.OK
            with _tracer.start_as_current_span(
                method, context=propagate.extract(metadata), kind=SpanKind.SERVER, attributes=span_attributes
            ) as span:
                try:
                    principal = self._authenticate(metadata)
                    structlog.contextvars.bind_contextvars(principal=principal.subject, line=principal.line.value)
                    request = _decode(body, deserialize)
                    with use_principal(principal):
                        well_formed(request)
                        if validator is not None:
                            validator(request)
                        if rule is None:  # the server does not start so; refused all the same
                            raise PermissionDenied(f"{method} has no access rule", reason="NO_ACCESS_RULE")
                        as_owner = rule.authorize(principal, request, callers=callers, method=name)
                        with Admitted(as_owner):
                            return await behavior(request, context)
                except DomainError as error:
                    status = status_for(error)
                    code = status.code
                    await context.abort(status.code, status.details, status.trailing_metadata)
                except grpc.aio.AbortError:
                    # The handler aborted on its own; keep the code it chose for the log line.
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except Exception as error:
                    if (outage := database_outage(error)) is not None:
                        # The database away or a lost transaction: the call may be sent again.
                        status = status_for(outage)
                        code = status.code
                        log.warning("rpc_database_unavailable", error=repr(error), reason=outage.reason)
                        await context.abort(status.code, status.details, status.trailing_metadata)
                    code = grpc.StatusCode.INTERNAL
                    log.exception("rpc_failed")
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
                finally:
                    elapsed = time.perf_counter() - started
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code is not grpc.StatusCode.OK:
                        span.set_status(Status(StatusCode.ERROR, code.name))
                    RPC_REQUESTS.labels(method, code.name).inc()
                    RPC_LATENCY.labels(method).observe(elapsed)
                    log.info("rpc", code=code.name, duration_ms=round(elapsed * 1000, 2))
                    structlog.contextvars.unbind_contextvars("request_id", "method", "principal", "line")

        return handle

    def _authenticate(self, metadata: Mapping[str, str]) -> Principal:
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("a bearer token is required", reason="TOKEN_MISSING")
        principal = self._verifier.verify(token.strip())
        if principal.line not in self._served_lines:
            log.warning("line_not_served", subject=principal.subject, token_line=principal.line)
            raise PermissionDenied(f"this instance does not serve the {principal.line} line", reason="LINE_NOT_SERVED")
        return principal


async def _streaming_refused(request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "streaming methods are not served by the platform")


def _decode(body: Any, deserialize: Callable[[bytes], Any] | None) -> Any:
    if deserialize is None or not isinstance(body, bytes):
        return body
    try:
        return deserialize(body)
    except DecodeError:
        raise InvalidArgument(
            "the request body is not a valid message of this method", reason="MALFORMED_REQUEST"
        ) from None
