"""Where the services answer, who the CLI speaks as, and running a command's calls.

Addresses are the local platform's (deploy/local/services.py), each overridable by PINGOU_<SERVICE>_ADDRESS
(PINGOU_GROUPBUY_ADDRESS=10.1.2.3:20052). A token given with --token (or PINGOU_TOKEN) goes with every call;
without one, each command mints the token the platform accepts for it from the profile's local keys
(.data/<profile>/keys, or --keys / PINGOU_KEYS_DIR), signed by the key that may sign it (libs.auth.local):
people's commands as an operator, a buyer's own commands as that buyer, PLUS purchases and payments as the
payment provider's adapter (`payments`: membership's PURCHASE_CALLERS, order's PAYMENT_CALLERS) and
registrations as the account system (`accounts`: segmentation's REGISTRY_CALLERS).

A failed call is one line on stderr (`error: <STATUS> <REASON>: <message>`) and exit code 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import grpc
import typer

from deploy.local.services import HOST, SERVICES
from libs.auth import Role
from libs.auth.local import LocalKeys
from libs.core import BusinessLine, DomainError, user_line
from libs.core.orders import ORDER_PREFIX
from libs.grpckit import open_channel, service_token_metadata
from libs.grpckit.errors import reason_of

OPERATOR = "cli-operator"
PAYMENTS = "payments"  # the payment provider's adapter
ACCOUNTS = "accounts"  # the account system
TOKEN_TTL_SECONDS = 600
# The gRPC service behind each name, for the retry policy of calls that may be sent twice.
GRPC_SERVICES = {
    "catalog": "pingou.catalog.v1.CatalogService",
    "groupbuy": "pingou.groupbuy.v1.GroupbuyService",
    "segmentation": "pingou.segmentation.v1.SegmentationService",
    "membership": "pingou.membership.v1.MembershipService",
    "order": "pingou.order.v1.OrderService",
    "analytics": "pingou.analytics.v1.AnalyticsService",
}

T = TypeVar("T")


class Profile(StrEnum):
    """The local platform profiles of deploy/local/infra.py: which keys the CLI mints with."""

    DEV = "dev"
    TEST = "test"


class CliError(Exception):
    """A failure said in one line on stderr; the command exits 1."""


@dataclass(frozen=True)
class Speaker:
    """Who a call is made as: its token's subject, line and roles."""

    subject: str
    line: BusinessLine
    roles: tuple[Role, ...]


def user_line_or(user_id: str, default: BusinessLine) -> BusinessLine:
    """The line of a user id; for what is no user id, `default`: the service refuses the id itself."""
    try:
        return user_line(user_id)
    except DomainError:
        return default


def order_line_or(order_id: str, default: BusinessLine) -> BusinessLine:
    return next((line for line, prefix in ORDER_PREFIX.items() if order_id.startswith(prefix)), default)


def describe(error: grpc.aio.AioRpcError, service: str, address: str) -> str:
    """`<STATUS> <REASON>: <message>`; a service that does not answer is named with its address."""
    code: grpc.StatusCode = error.code()
    reason = reason_of(error)
    head = f"{code.name} {reason}" if reason and reason != code.name else code.name
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and reason is None:
        return f"{head}: {service} at {address} did not answer ({error.details()})"
    return f"{head}: {error.details()}"


@dataclass
class Session:
    """The global options of one command: profile, line, token, output, deadline."""

    profile: Profile = Profile.DEV
    line: BusinessLine = BusinessLine.PINGOU
    token: str | None = None
    keys_dir: Path | None = None
    json: bool = False
    timeout: float = 10.0
    _keys: LocalKeys | None = field(default=None, init=False, repr=False)

    # --- who speaks

    def operator(self, line: BusinessLine | None = None) -> Speaker:
        return Speaker(OPERATOR, line or self.line, (Role.OPERATOR,))

    def buyer(self, user_id: str) -> Speaker:
        return Speaker(user_id, user_line_or(user_id, self.line), (Role.USER,))

    def outside_service(self, name: str, line: BusinessLine) -> Speaker:
        """A caller outside the platform with a service identity of its own (`payments`, `accounts`)."""
        return Speaker(name, line, (Role.SERVICE,))

    def keys(self) -> LocalKeys:
        if self._keys is None:
            folder = self.keys_dir
            if folder is None:
                from deploy.local import infra  # Postgres and Kafka clients: imported only when needed

                folder = infra.data_dir(self.profile.value) / "keys"
            self._keys = LocalKeys(folder)
        return self._keys

    def credentials(self, speaker: Speaker) -> str:
        if self.token:
            return self.token
        keys = self.keys()
        try:
            return keys.mint(
                subject=speaker.subject, line=speaker.line, roles=speaker.roles, ttl_seconds=TOKEN_TTL_SECONDS
            )
        except (OSError, ValueError) as error:
            raise CliError(
                f"cannot mint a token for {speaker.subject} with the keys in {keys.folder} ({error}); "
                "start the platform with `make up`, or pass --token"
            ) from None

    # --- where, and the calls

    def address(self, service: str) -> str:
        override = os.environ.get(f"PINGOU_{service.upper()}_ADDRESS")
        if override:
            return override
        port = next((spec.port for spec in SERVICES if spec.name == service), None)
        if port is None:
            raise CliError(
                f"no address for {service}: it is not a service of the local platform (deploy/local/services.py); "
                f"set PINGOU_{service.upper()}_ADDRESS"
            )
        return f"{HOST}:{port}"

    @asynccontextmanager
    async def channel(self, service: str, speaker: Speaker, *, retry: bool = False) -> AsyncIterator[grpc.aio.Channel]:
        """A channel to the service carrying the speaker's token. `retry`: every call on it may be sent again
        when the service is UNAVAILABLE (reads, and writes keyed by an idempotency key or a reference)."""
        address = self.address(service)
        metadata = service_token_metadata(self.credentials(speaker))
        try:
            async with open_channel(
                address,
                default_timeout=self.timeout,
                metadata=lambda: metadata,
                idempotent_methods=[GRPC_SERVICES[service]] if retry else (),
                wait_for_ready=False,  # an operator at a terminal is told at once that nothing answers
            ) as channel:
                yield channel
        except grpc.aio.AioRpcError as error:
            raise CliError(describe(error, service, address)) from None

    def call(
        self,
        service: str,
        speaker: Speaker,
        invoke: Callable[[grpc.aio.Channel], Awaitable[T]],
        *,
        retry: bool = False,
    ) -> T:
        """Run `invoke` on a channel to the service and return its answer."""

        async def on_channel() -> T:
            async with self.channel(service, speaker, retry=retry) as channel:
                return await invoke(channel)

        return run(on_channel())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's calls: a CliError is one line on stderr and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except CliError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def session_of(context: typer.Context) -> Session:
    session = context.find_root().obj
    if not isinstance(session, Session):  # a command invoked without the app's callback (tests of one command)
        session = Session()
    return session
