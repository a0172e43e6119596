"""The reservation expiry job: reservations whose hold ran out give their stock back. Durable and
replica-safe: what is due lives in Postgres, each batch is claimed with FOR UPDATE SKIP LOCKED, and a row
that fails for a reason of its own is set aside (libs.jobs) while the others are released."""

from __future__ import annotations

import asyncpg

from libs.core import BusinessLine
from services.catalog.service_layer import inventory
from services.catalog.service_layer.unit_of_work import UnitOfWork

EXPIRY_BATCH = 100


async def expire_reservations(pool: asyncpg.Pool, line: BusinessLine, *, prefix: str) -> int:
    """One batch of the durable expiry job: any replica may run it; SKIP LOCKED keeps them off each
    other's rows. Returns how many reservations it claimed."""
    async with UnitOfWork(pool, line, topic_prefix=prefix) as uow:
        return (await inventory.release_expired(uow, batch=EXPIRY_BATCH)).claimed
