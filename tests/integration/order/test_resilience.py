"""What the order service does when a dependency is away, and its jobs run on several replicas at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pingou.order.v1 import events_pb2 as events
from pingou.order.v1 import order_pb2 as pb
from pingou.order.v1 import order_pb2_grpc as pb_grpc
from prometheus_client import REGISTRY

from libs.core import BusinessLine
from libs.core.orders import PAYMENT_CONFIRMATION_GRACE
from libs.database import create_pool, schema_name
from libs.grpckit import open_channel
from services.order.bootstrap import build_app
from services.order.entrypoints.jobs import OrderJobs
from services.order.service_layer.policy import OrderPolicy
from services.order.service_layer.unit_of_work import UnitOfWork
from tests.integration.order.conftest import Shop
from tests.support.notes import free_port, running_app

MALL = BusinessLine.MALL


async def test_without_membership_an_order_is_still_placed_at_the_normal_price(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=5, price=5990, plus_price=4990)
    member = await shop.register(MALL)
    await shop.buy_trial(member)
    # A second order instance whose membership address answers nothing.
    settings = shop.settings.model_copy(update={"membership_address": f"127.0.0.1:{free_port()}"})
    unanswered_before = REGISTRY.get_sample_value("order_membership_unanswered_total") or 0.0

    async with (
        running_app(build_app, settings) as lonely,
        open_channel(f"127.0.0.1:{lonely.port}", default_timeout=20) as channel,
    ):
        order = await shop.place_mall(member, [(sku, 1)], stub=pb_grpc.OrderServiceStub(channel))

    assert (order.items[0].unit_price_minor, order.items[0].plus_price) == (5990, False)
    assert order.state == pb.ORDER_STATE_PENDING_PAYMENT
    assert (REGISTRY.get_sample_value("order_membership_unanswered_total") or 0.0) == unanswered_before + 1
    # With membership back (the shared instance), the same member gets the PLUS price.
    assert (await shop.place_mall(member, [(sku, 1)])).items[0].unit_price_minor == 4990


async def test_two_timeout_jobs_at_once_cancel_each_overdue_order_exactly_once(shop: Shop) -> None:
    sku = await shop.new_sku(MALL, stock=1000)
    buyers = [await shop.register(MALL) for _ in range(4)]
    placed = [await shop.place_mall(buyers[index % 4], [(sku, 1)]) for index in range(120)]
    ids = [order.order_id for order in placed]
    pool = await create_pool(
        shop.database_url, schema=schema_name("order", MALL), max_size=6, application_name="timeout-jobs-test"
    )
    try:
        # The shared instance's job would take these too: these two jobs race it and each other.
        await shop.fetch(
            "UPDATE order_mall.orders SET pay_by = now() - $2::interval WHERE order_id = ANY($1::text[])",
            ids,
            PAYMENT_CONFIRMATION_GRACE + timedelta(seconds=1),
        )
        jobs = [
            OrderJobs(lambda: UnitOfWork(pool, MALL, topic_prefix=shop.prefix), policy=OrderPolicy(), batch_size=7)
            for _ in range(2)
        ]

        async def drain(job: OrderJobs) -> int:
            total = 0
            while (done := await job.cancel_unpaid()) > 0:
                total += done
            return total

        await asyncio.gather(*(drain(job) for job in jobs))
    finally:
        await pool.close()

    states = await shop.fetch("SELECT state FROM order_mall.orders WHERE order_id = ANY($1::text[])", ids)
    assert {row["state"] for row in states} == {"cancelled"}
    published = await shop.published(MALL)
    wanted = set(ids)
    cancellations = [key for key, event in published if isinstance(event, events.OrderCancelled) and key in wanted]
    assert sorted(cancellations) == sorted(ids)  # each once: none twice, none missing
