"""python -m services.catalog [migrate | seed]: serve until SIGTERM, apply the migrations, or load the
demo catalog when the catalog is empty."""

from __future__ import annotations

import asyncio
import sys

import uvloop

from libs.grpckit import run_app
from libs.logs import configure_logging
from libs.settings import exit_on_bad_settings, load_settings
from libs.tracing import configure_tracing
from services.catalog.bootstrap import CatalogSettings, build_app, migrate_all
from services.catalog.demo import seed_if_empty


async def serve(settings: CatalogSettings) -> None:
    configure_tracing(settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    await run_app(lambda: build_app(settings), settings)


def main() -> None:
    with exit_on_bad_settings():
        settings = load_settings(CatalogSettings)
    configure_logging(service=settings.service_name, level=settings.log_level, log_format=settings.log_format)
    command = sys.argv[1:]
    if command == ["migrate"]:
        migrate_all(settings)
    elif command == ["seed"]:
        asyncio.run(seed_if_empty(settings.database_url))
    else:
        uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
