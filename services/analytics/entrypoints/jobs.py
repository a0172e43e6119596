"""The durable job beside the gRPC server: identity links looked up for the users who paid or were linked.

What is waiting lives in Postgres (`link_lookups`); each batch is claimed with FOR UPDATE SKIP LOCKED, so
any number of replicas share the work and a crash loses nothing. A lookup that fails for a reason of its
own is set aside with its error (libs.jobs); segmentation not answering rolls the batch back, to be tried
again after a pause that grows while it lasts.
"""

from __future__ import annotations

from collections.abc import Callable

from libs.jobs import run_batches
from libs.logs import get_logger
from services.analytics.service_layer import links
from services.analytics.service_layer.ports import LinkedAccounts
from services.analytics.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


class LinkLookupJob:
    def __init__(
        self, uow: Callable[[], UnitOfWork], segmentation: LinkedAccounts, *, poll_seconds: float, batch_size: int
    ):
        self._uow, self._segmentation = uow, segmentation
        self.poll_seconds, self.batch_size = poll_seconds, batch_size

    async def run(self) -> None:
        await run_batches(self.run_once, job=links.LINK_LOOKUP, batch_size=self.batch_size,
                          poll_seconds=self.poll_seconds)  # fmt: skip

    async def run_once(self) -> int:
        """One batch, in one transaction; how many lookups it claimed (done or set aside)."""
        settled = await links.look_up_links(self._uow(), self._segmentation, limit=self.batch_size)
        if settled.set_aside:
            log.warning("link_lookups_set_aside", users=settled.set_aside)
        return settled.claimed
