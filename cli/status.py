"""`pingou status`: every service of the platform and its gRPC health, as `make status` reports it
(SERVING, NOT_SERVING: answers but is not ready, DOWN: no answer); exit 1 unless every one is SERVING."""

from __future__ import annotations

import asyncio

import grpc
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli import output
from cli.connection import run, session_of
from deploy.local.services import SERVICES
from libs.grpckit import open_channel

PROBE_SECONDS = 2.0


async def health(address: str) -> str:
    # TLS when the platform has it; a probe answers DOWN at once rather than waiting for a connection.
    async with open_channel(address, default_timeout=PROBE_SECONDS, wait_for_ready=False) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        except grpc.aio.AioRpcError:
            return "DOWN"
    return "SERVING" if reply.status == health_pb2.HealthCheckResponse.SERVING else "NOT_SERVING"


def status(context: typer.Context) -> None:
    """The health of every service, from a real round trip (gRPC health)."""
    session = session_of(context)
    addresses = {spec.name: session.address(spec.name) for spec in SERVICES}

    async def probe_all() -> list[str]:
        return list(await asyncio.gather(*(health(address) for address in addresses.values())))

    found = [
        {"service": name, "address": address, "status": state}
        for (name, address), state in zip(addresses.items(), run(probe_all()), strict=True)
    ]
    if session.json:
        output.print_json(found)
    else:
        rows = output.table(None, "service", "address", "status")
        for row in found:
            rows.add_row(row["service"], row["address"], row["status"])
        output.console().print(rows)
    if any(row["status"] != "SERVING" for row in found):
        raise typer.Exit(1)
