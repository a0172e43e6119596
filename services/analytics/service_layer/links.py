"""Identity links, learnt from segmentation by a durable job rather than by the consumer: a payment or a
new link only queues a lookup, so segmentation being slow, away or refusing never holds up the facts.

A user's first payment queues one (a payment earlier than every other payment of their accounts makes
them new to the company), and so does segmentation's `IdentityLinked` (a link made later). Either
account of a pair, looked up once both exist, records the pair, both ways. An account segmentation does
not know has no links: the lookup is done, and the user counts as new if their own first payment is.
"""

from __future__ import annotations

from prometheus_client import Counter

from libs.jobs import Job, Settled, settle_each
from libs.logs import get_logger
from services.analytics.service_layer.ports import LinkedAccounts
from services.analytics.service_layer.unit_of_work import UnitOfWork

LINK_LOOKUP = Job("analytics", "link_lookup")
UNKNOWN_ACCOUNTS = Counter(
    "analytics_accounts_unknown_to_segmentation_total", "Link lookups of accounts segmentation does not hold", ["line"]
)
log = get_logger(__name__)


async def look_up_links(uow: UnitOfWork, segmentation: LinkedAccounts, *, limit: int) -> Settled[str]:
    """Up to `limit` waiting lookups, each on its own: one that fails for a reason of its own is set aside
    and the others are done; segmentation not answering rolls the batch back, to be tried again."""
    async with uow:
        waiting = await uow.lookups.claim(job=LINK_LOOKUP.name, limit=limit)

        async def look_up(user_id: str) -> str:
            linked = await segmentation.linked_accounts(user_id)
            if linked is None:
                UNKNOWN_ACCOUNTS.labels(uow.line.value).inc()
                log.info("account_unknown_to_segmentation", user_id=user_id, line=uow.line.value)
            elif linked:
                await uow.lookups.add_links(user_id, linked)
            await uow.lookups.done(user_id)
            return user_id

        settled = await settle_each(uow, LINK_LOOKUP, waiting, look_up)
    return settled
