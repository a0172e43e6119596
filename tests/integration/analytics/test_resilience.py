"""Exactly the same KPIs whatever happens to the consumer and in whatever order the facts arrive: killed in
the middle of a stream and started again, a linked account's earlier payment arriving late, a link made
after both accounts paid, a buyer segmentation does not know."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.analytics.v1 import analytics_pb2_grpc as pb_grpc
from pingou.order.v1 import order_pb2 as order
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.auth.local import LocalKeys
from libs.core import BusinessLine, Unavailable
from libs.events import dead_letter_topic
from libs.grpckit import open_channel
from services.analytics.adapters.kafka_positions import KafkaPositions
from services.analytics.bootstrap import build_app
from tests.conftest import REPO, Infra, Mint
from tests.integration.analytics.conftest import Event, Platform, platform
from tests.integration.analytics.stream import TEN, UNREGISTERED, at, order_id, paid, placed
from tests.support.kafka import read_topic
from tests.support.notes import free_port, running_app
from tests.support.waiting import eventually, eventually_equal

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]
PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
ORDERS, BUYERS = 2400, 40
CITIES = ("上海", "菏泽", "曹县")  # tiers 1, 4 and 6


def busy_morning(buyers: list[str]) -> list[Event]:
    """ORDERS orders, one a second from 10:00, round robin over the buyers; every other one paid."""
    events = []
    for number in range(ORDERS):
        when = TEN + timedelta(seconds=number)
        order_number = order_id(PINGOU, "m")
        items = 1 + number % 3
        channel = order.CHANNEL_WECHAT_MINI_PROGRAM if number % 2 == 0 else order.CHANNEL_PINGOU_APP
        buyer = buyers[number % BUYERS]
        events.append(placed(PINGOU, order_number, buyer, when, quantities=[items], unit=990, channel=channel,
                             city=CITIES[number % 3]))  # fmt: skip
        if number % 2 == 0:
            events.append(paid(PINGOU, order_number, buyer, when + timedelta(seconds=20), 990 * items))
    return events


def spawn_analytics(found: Platform, log: Path) -> subprocess.Popen[bytes]:
    """The analytics service as a real process, configured as the in-process one (so it can be killed)."""
    settings = found.analytics_settings
    env = {
        **os.environ,
        "GRPC_PORT": str(free_port()),
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "JWT_KEY_SET_FILE": str(settings.jwt_key_set_file),
        "SEGMENTATION_ADDRESS": settings.segmentation_address,
        "SERVICE_SIGNING_KEY_FILE": str(settings.service_signing_key_file),
        "LINK_LOOKUP_POLL_SECONDS": "0.05",
        "LOG_LEVEL": "warning",
    }
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "services.analytics"], cwd=REPO, env=env, stdout=output,
                                stderr=output)  # fmt: skip


async def test_a_consumer_killed_mid_stream_and_started_again_counts_every_event_once(
    infra: Infra, keys: LocalKeys, page_token_key: Path, mint: Mint, topic_prefix: str, tmp_path: Path
) -> None:
    async with platform(infra, keys, page_token_key, mint, topic_prefix, serve_analytics=False) as found:
        buyers = [await found.register(PINGOU) for _ in range(BUYERS)]
        events = busy_morning(buyers)
        await found.publish(events)

        process = spawn_analytics(found, tmp_path / "analytics.log")
        try:
            await eventually(lambda: _applied_at_least(found, 300), timeout=90, pause=0.005)
        finally:
            process.send_signal(signal.SIGKILL)  # no shutdown of any kind: mid-transaction, offsets uncommitted
            await asyncio.to_thread(process.wait)
        applied_when_killed = await found.applied(PINGOU)
        assert applied_when_killed < len(events), "the consumer finished before it was killed: nothing was tested"

        async with (
            running_app(build_app, found.analytics_settings) as server,
            open_channel(f"127.0.0.1:{server.port}", default_timeout=10) as channel,
        ):
            found.stub = pb_grpc.AnalyticsServiceStub(channel)
            await found.caught_up(timeout=120)
            report = await found.kpis(PINGOU, pb.GRANULARITY_HOUR, TEN, TEN + timedelta(hours=1))
            status = await found.status(PINGOU)
        inbox = await found.count("SELECT count(*) FROM analytics_pingou.inbox")

    paid_numbers = range(0, ORDERS, 2)
    total = report.total
    assert (total.orders, total.items) == (ORDERS, sum(1 + number % 3 for number in range(ORDERS)))
    assert total.gmv_minor == sum(990 * (1 + number % 3) for number in paid_numbers)
    assert (total.ordering_users, total.paying_users) == (BUYERS, BUYERS // 2)  # even orders: even buyers
    assert total.new_to_company_users == BUYERS // 2
    assert {entry.channel: entry.orders for entry in total.orders_by_channel} == {
        order.CHANNEL_WECHAT_MINI_PROGRAM: ORDERS // 2,
        order.CHANNEL_PINGOU_APP: ORDERS // 2,
    }
    assert {entry.city_tier: entry.users for entry in total.ordering_users_by_city_tier} == {1: 40, 4: 40, 6: 40}
    assert [bucket.start.ToDatetime(tzinfo=TEN.tzinfo) for bucket in report.buckets] == [TEN]
    assert status.events_applied == len(events)  # none applied twice, none lost
    assert inbox == len(events)


async def _applied_at_least(found: Platform, events: int) -> bool:
    try:
        return await found.applied(PINGOU) >= events
    except Exception:  # the schema is not there before the process has migrated it
        return False


async def test_new_to_company_follows_late_payments_and_late_links(
    infra: Infra, keys: LocalKeys, page_token_key: Path, mint: Mint, topic_prefix: str
) -> None:
    async with platform(infra, keys, page_token_key, mint, topic_prefix) as found:
        first = await found.register(PINGOU, phone="13900000001")
        mall_first = await found.register(MALL)  # linked to `first` only later
        second = await found.register(PINGOU, phone="13900000002")
        mall_second = await found.register(MALL, phone="13900000002")  # linked from the start
        stranger = "pu_9100001"  # not known to segmentation

        async def new_users() -> tuple[int, int]:
            window = (pb.GRANULARITY_HOUR, at(0, hour=9), at(0, hour=12))
            pingou, mall = await found.kpis(PINGOU, *window), await found.kpis(MALL, *window)
            return pingou.total.new_to_company_users, mall.total.new_to_company_users

        def payment(line: BusinessLine, user: str, hour: int, minute: int) -> list[Event]:
            number = order_id(line, "n")
            when = at(minute, hour=hour)
            return [
                placed(line, number, user, when, quantities=[1], unit=990, channel=order.CHANNEL_H5, city="临沂"),
                paid(line, number, user, when, 990),
            ]

        await found.publish([*payment(PINGOU, first, 10, 0), *payment(MALL, mall_first, 10, 30),
                             *payment(PINGOU, second, 10, 15), *payment(PINGOU, stranger, 10, 20)])  # fmt: skip
        await found.caught_up()
        assert await new_users() == (3, 1)  # first, second, the stranger; mall_first

        # mall_second paid before second did, but its event comes now: second was not new after all.
        await found.publish(payment(MALL, mall_second, 9, 30))
        await found.caught_up()
        assert await new_users() == (2, 2)

        # mall_first's account is now linked to first's, who paid before it: only mall_second is new on mall.
        await found.segmentation.LinkIdentity(
            seg_pb.LinkIdentityRequest(
                user_id=mall_first,
                identity=seg_pb.ExternalIdentity(kind=seg_pb.IDENTITY_KIND_PHONE, value="13900000001"),
            ),
            metadata=found.accounts(MALL),
        )
        await eventually_equal(new_users, (2, 1))  # once segmentation's IdentityLinked is on its topic
        await found.caught_up()
        assert await new_users() == (2, 1)


async def test_an_event_that_cannot_make_a_fact_is_dead_lettered_and_the_line_goes_on(
    infra: Infra, keys: LocalKeys, page_token_key: Path, mint: Mint, topic_prefix: str
) -> None:
    async with platform(infra, keys, page_token_key, mint, topic_prefix) as found:
        good, bad = order_id(PINGOU, "g"), order_id(PINGOU, "b")
        # One key, so one partition: the good order comes after the bad one, in the same batch.
        h5 = order.CHANNEL_H5
        foreign = placed(PINGOU, bad, "mu_1000001", at(0), quantities=[1], unit=990, channel=h5, city="临沂")
        fine = placed(PINGOU, good, UNREGISTERED, at(1), quantities=[2], unit=990, channel=h5, city="临沂")
        await found.publish([replace(foreign, key="one-key"), replace(fine, key="one-key")])
        await found.caught_up()
        report = await found.kpis(PINGOU, pb.GRANULARITY_HOUR, TEN, TEN + timedelta(hours=1))
        topic = dead_letter_topic(f"{found.prefix}pingou.order.v1")
        dead = await read_topic(found.kafka, topic, until=lambda got: len(got) >= 1)
        assert (report.total.orders, report.total.items) == (1, 2)
        assert await found.applied(PINGOU) == 1
    assert [dict(record.headers)["dlq.consumer"] for record in dead] == [f"{found.prefix}analytics".encode()]
    assert b"an account of the other line" in dict(dead[0].headers)["dlq.error"]


async def test_two_instances_share_the_partitions_and_count_every_event_once(
    infra: Infra, keys: LocalKeys, page_token_key: Path, mint: Mint, topic_prefix: str
) -> None:
    async with platform(infra, keys, page_token_key, mint, topic_prefix) as found:
        buyers = [await found.register(PINGOU) for _ in range(BUYERS)]
        events = busy_morning(buyers)[:900]
        async with running_app(build_app, found.analytics_settings):  # a second member per line in the group
            await found.publish(events)
            await found.caught_up(timeout=120)
            report = await found.kpis(PINGOU, pb.GRANULARITY_HOUR, TEN, TEN + timedelta(hours=1))
            assert (await found.status(PINGOU)).events_applied == len(events)
    placed_orders = [event for event in events if event.payload.DESCRIPTOR.name == "OrderPlaced"]
    assert report.total.orders == len(placed_orders) == 600
    assert report.total.items == sum(1 + number % 3 for number in range(600))
    assert report.total.ordering_users == BUYERS


async def test_consumer_status_is_unavailable_while_kafka_cannot_answer() -> None:
    # Nothing listens on the port: the positions are asked again for a few seconds, then refused as
    # retryable (a fresh broker still electing its group coordinator is refused the same way, if it lasts).
    positions = KafkaPositions(f"127.0.0.1:{free_port()}", group="analytics")
    try:
        with pytest.raises(Unavailable) as refused:
            await positions.lags(["pingou.order.v1"])
    finally:
        await positions.close()
    assert refused.value.reason == "KAFKA_UNAVAILABLE"
