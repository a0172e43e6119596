"""The `python -m services.<name> [step]` entry point every service shares: load and check settings,
set up logging, then either run one set-up step (`migrate`, `seed`, ...) or serve until SIGTERM."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import uvloop

from libs.grpckit.server import GrpcApp, run_app
from libs.logs import configure_logging
from libs.settings import ServiceSettings, exit_on_bad_settings, load_settings
from libs.tracing import configure_tracing

S = TypeVar("S", bound=ServiceSettings)
Step = Callable[[S], Any]


def service_main(
    settings_type: type[S], build: Callable[[S], Awaitable[GrpcApp]], steps: Mapping[str, Step[S]]
) -> None:
    with exit_on_bad_settings():
        settings = load_settings(settings_type)
    configure_logging(service=settings.service_name, level=settings.log_level, log_format=settings.log_format)
    arguments = sys.argv[1:]
    if arguments:
        step = steps.get(arguments[0]) if len(arguments) == 1 else None
        if step is None:
            raise SystemExit(f"usage: python -m <service> [{' | '.join(steps)}]")
        outcome = step(settings)
        if inspect.isawaitable(outcome):
            asyncio.run(_awaited(outcome))
        return
    configure_tracing(settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    uvloop.run(run_app(lambda: build(settings), settings))


async def _awaited(outcome: Awaitable[Any]) -> None:
    await outcome
