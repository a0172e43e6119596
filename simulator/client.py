"""The simulator's calls to the platform: one channel per service, tokens minted by the development keys
(people's roles by the issuer key, `payments` and `accounts` by their own), and one way to make a call
that counts what happened: answered, refused for a reason the caller expects (a full group, stock sold
out), or an error nobody expects (any other refusal, INTERNAL, a deadline).

UNAVAILABLE is retried by the channel's policy (libs.grpckit.client) for the calls that are safe to send
twice: reads, and changes keyed by an idempotency key, a payment reference or their own target
(RETRIED); registering a user and creating a product are not."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from pingou.analytics.v1 import analytics_pb2_grpc
from pingou.catalog.v1 import catalog_pb2_grpc
from pingou.groupbuy.v1 import groupbuy_pb2_grpc
from pingou.membership.v1 import membership_pb2_grpc
from pingou.order.v1 import order_pb2_grpc
from pingou.segmentation.v1 import segmentation_pb2_grpc

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit.client import open_channel, service_token_metadata
from libs.grpckit.errors import reason_of
from ops.platform import LocalPlatform

Reply = TypeVar("Reply")
# Whole services (every method keyed or a read), or single methods.
RETRIED: dict[str, tuple[str, ...]] = {
    "catalog": tuple(
        f"pingou.catalog.v1.CatalogService/{method}"
        for method in ("UpsertListing", "SetStock", "SearchListings", "GetProducts", "GetListings", "GetStock")
    ),
    "segmentation": ("pingou.segmentation.v1.SegmentationService/LinkIdentity",),
    "membership": ("pingou.membership.v1.MembershipService",),
    "order": ("pingou.order.v1.OrderService",),
    "groupbuy": ("pingou.groupbuy.v1.GroupbuyService",),
    "analytics": ("pingou.analytics.v1.AnalyticsService",),
}
CALL_TIMEOUT = 30.0  # generous: on two busy cores a call may queue behind the flash start
IN_FLIGHT = 48  # calls at once: beyond this the platform of one small machine only queues them


@dataclass
class Tally:
    """What the calls of a run came to, by method: answered, refused as expected (by reason), errors, and
    calls sent again because what they named was not there yet."""

    answered: Counter[str] = field(default_factory=Counter)
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent_again: Counter[tuple[str, str]] = field(default_factory=Counter)
    first_error: dict[tuple[str, str], str] = field(default_factory=dict)
    # Every call as (started, ended) on the monotonic clock, its method, and its error's reason (None when
    # answered or refused as expected): what happened while a fault lasted (make chaos).
    timeline: list[tuple[float, float, str, str | None]] = field(default_factory=list)

    def error_count(self) -> int:
        return sum(self.errors.values())


class Platform:
    """Channels to every service and the tokens of the run's actors."""

    def __init__(self, platform: LocalPlatform):
        self.local = platform
        self.tally = Tally()
        self._gate = asyncio.Semaphore(IN_FLIGHT)
        self._channels = {
            name: open_channel(
                platform.addresses[name],
                idempotent_methods=RETRIED[name],
                default_timeout=CALL_TIMEOUT,
            )
            for name in RETRIED
            if name in platform.addresses
        }
        self._tokens: dict[tuple[str, BusinessLine, Role], list[tuple[str, str]]] = {}
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self._channel("catalog"))
        self.segmentation = segmentation_pb2_grpc.SegmentationServiceStub(self._channel("segmentation"))
        self.membership = membership_pb2_grpc.MembershipServiceStub(self._channel("membership"))
        self.order = order_pb2_grpc.OrderServiceStub(self._channel("order"))
        self.groupbuy = groupbuy_pb2_grpc.GroupbuyServiceStub(self._channel("groupbuy"))
        self.analytics = analytics_pb2_grpc.AnalyticsServiceStub(self._channel("analytics"))

    def _channel(self, name: str) -> grpc.aio.Channel:
        if name not in self._channels:
            raise RuntimeError(f"the platform has no {name} service (deploy/local/services.py SERVICES)")
        return self._channels[name]

    def as_(self, subject: str, line: BusinessLine, role: Role) -> list[tuple[str, str]]:
        """Call metadata with a token for `subject` on `line` with `role` (minted once per run)."""
        key = (subject, line, role)
        if key not in self._tokens:
            self._tokens[key] = service_token_metadata(self.local.token(subject, line, role))
        return self._tokens[key]

    def service(self, name: str, line: BusinessLine) -> list[tuple[str, str]]:
        return self.as_(name, line, Role.SERVICE)

    def operator(self, line: BusinessLine) -> list[tuple[str, str]]:
        return self.as_("demo-operator", line, Role.OPERATOR)

    async def call(
        self,
        method: Callable[..., Awaitable[Reply]],
        request: Any,
        metadata: list[tuple[str, str]],
        *,
        expected: Collection[str] = (),
        again_on: Collection[str] = (),
        patience: float = 60.0,
    ) -> Reply | None:
        """The answer, or None when refused: with a reason in `expected` (counted as a refusal), or
        otherwise (counted as an error, with the first message of each kind kept for the report). A
        refusal for a reason in `again_on` (the thing is not there yet) is sent again after a pause
        doubling up to 5 s, for up to `patience` seconds, as a provider's webhook or an app would."""
        name = type(request).__name__.removesuffix("Request")
        started = time.monotonic()
        give_up, pause = started + patience, 0.25
        while True:
            try:
                async with self._gate:
                    reply = await method(request, metadata=metadata, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as error:
                reason = reason_of(error) or error.code().name
                if reason in again_on and time.monotonic() + pause < give_up:
                    self.tally.sent_again[(name, reason)] += 1
                    await asyncio.sleep(pause)
                    pause = min(2 * pause, 5.0)
                    continue
                if reason in expected:
                    self.tally.refused[(name, reason)] += 1
                    self.tally.timeline.append((started, time.monotonic(), name, None))
                else:
                    self.tally.errors[(name, reason)] += 1
                    self.tally.first_error.setdefault((name, reason), error.details() or "")
                    self.tally.timeline.append((started, time.monotonic(), name, reason))
                return None
            self.tally.answered[name] += 1
            self.tally.timeline.append((started, time.monotonic(), name, None))
            return reply

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
