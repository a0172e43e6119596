"""The order service's durable jobs, beside its gRPC server: cancel orders that can no longer be paid in
time, ask the payment provider again about refunds it has not answered, and forget old idempotency keys
and old failed groups. Each claims its rows with SKIP LOCKED in the transaction that handles them, so
replicas share the work and each change happens once; a row that fails for a reason of its own is set
aside (libs.jobs) and the others go on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from libs.jobs import Job
from libs.logs import get_logger
from services.order.service_layer import orders, refunds
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork

log = get_logger(__name__)


class OrderJobs:
    def __init__(
        self,
        make_uow: Callable[[], UnitOfWork],
        *,
        policy: OrderPolicy,
        batch_size: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._uow = make_uow
        self._policy = policy
        self.batch_size = batch_size
        self._now = clock

    def batches(self) -> list[tuple[Job, Callable[[], Awaitable[int]]]]:
        """Each job with its batch, for libs.jobs.run_batches."""
        return [
            (orders.PAYMENT_TIMEOUT, self.cancel_unpaid),
            (refunds.REFUND_RETRY, self.ask_again_for_refunds),
            (orders.OLD_KEYS, self.forget_old_keys),
            (orders.OLD_FAILED_GROUPS, self.forget_old_failed_groups),
        ]

    async def cancel_unpaid(self) -> int:
        """One batch of orders that can no longer be paid in time: cancelled, each with its OrderCancelled.
        Returns how many were claimed."""
        async with self._uow() as uow:
            settled = await orders.cancel_unpaid_due(uow, now=self._now(), limit=self.batch_size)
        if settled.done:
            log.info("unpaid_orders_cancelled", line=uow.line.value, count=len(settled.done))
        return settled.claimed

    async def forget_old_keys(self) -> int:
        """One batch of idempotency keys older than the retention period, deleted."""
        async with self._uow() as uow:
            settled = await orders.forget_old_keys(
                uow, older_than=self._now() - self._policy.key_retention, limit=self.batch_size
            )
        return settled.claimed

    async def forget_old_failed_groups(self) -> int:
        """One batch of groups known to have failed longer ago than the retention period, forgotten."""
        async with self._uow() as uow:
            settled = await orders.forget_old_failed_groups(
                uow, older_than=self._now() - self._policy.failed_group_retention, limit=self.batch_size
            )
        return settled.claimed

    async def ask_again_for_refunds(self) -> int:
        """One batch of refunds the provider left unanswered: asked again, or given up after the last try."""
        async with self._uow() as uow:
            settled = await refunds.ask_again_for_silent_refunds(
                uow, policy=self._policy, now=self._now(), limit=self.batch_size
            )
        if settled.done:
            log.info("silent_refunds_asked_again", line=uow.line.value, count=len(settled.done))
        return settled.claimed
