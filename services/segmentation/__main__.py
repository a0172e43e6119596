"""python -m services.segmentation [migrate]: serve until SIGTERM, or only apply the migrations."""

from __future__ import annotations

import sys

import uvloop

from libs.grpckit import run_app
from libs.logs import configure_logging
from libs.settings import exit_on_bad_settings, load_settings
from libs.tracing import configure_tracing
from services.segmentation.bootstrap import SegmentationSettings, build_app, migrate_all


async def serve(settings: SegmentationSettings) -> None:
    configure_tracing(settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint)
    await run_app(lambda: build_app(settings), settings)


def main() -> None:
    with exit_on_bad_settings():
        settings = load_settings(SegmentationSettings)
    configure_logging(service=settings.service_name, level=settings.log_level, log_format=settings.log_format)
    if sys.argv[1:] == ["migrate"]:
        migrate_all(settings)
    else:
        uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
