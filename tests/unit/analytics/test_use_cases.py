"""Analytics' use cases over fakes of its ports: facts recorded kind by kind, KPI reports of whole buckets
with activity, the consumer's status, and the link lookup job over a fake unit of work. (test_domain.py
covers what `record` leaves out or refuses.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.core import BusinessLine, InvalidArgument, Unavailable
from services.analytics.domain.facts import (
    Fact,
    GroupOpened,
    GroupOutcome,
    LinksChanged,
    MembershipSale,
    Payment,
    PlacedOrder,
    Refund,
    SeatTaken,
)
from services.analytics.domain.model import SHANGHAI, Channel, Granularity, Kpis, PartitionLag
from services.analytics.service_layer.facts import record
from services.analytics.service_layer.kpis import consumer_status, kpi_report
from services.analytics.service_layer.links import LINK_LOOKUP, look_up_links
from tests.unit.analytics.fakes import (
    FakeConsumerPositions,
    FakeDatabase,
    FakeFacts,
    FakeKpiSource,
    FakeSegmentation,
    FakeUnitOfWork,
)

NOW = datetime(2026, 5, 1, 4, 30, tzinfo=UTC)  # 12:30 in Beijing
BUYER, FRIEND, MALL_BUYER = "pu_1000001", "pu_1000002", "mu_1000001"


def placed(order_id: str, user_id: str = BUYER) -> PlacedOrder:
    return PlacedOrder(order_id, user_id, NOW, 1, 1590, Channel.WECHAT_MINI_PROGRAM, 3)


def outcome(group_id: str) -> GroupOutcome:
    return GroupOutcome(group_id, True, NOW, NOW - timedelta(hours=1), reannounced=False)


def seat(seat_id: str, inviter: str | None) -> SeatTaken:
    return SeatTaken(seat_id, "g-1", FRIEND, inviter, NOW)


# --- recording facts


async def test_every_kind_of_fact_of_a_batch_is_written_in_one_statement() -> None:
    # What is left out (repeated outcomes, seats without an invite) or refused: test_domain.py.
    facts = FakeFacts()
    batch: list[Fact] = [
        placed("po_1"),
        Payment("po_1", BUYER, NOW, 1590),
        placed("po_2"),
        GroupOpened("g-1", NOW),
        Refund("po_0", BUYER, NOW, 990),
        MembershipSale("pay-1", BUYER, "annual", False, NOW, 14900),
        outcome("g-1"),
        seat("s-1", BUYER),
        LinksChanged(FRIEND),
    ]
    await record(facts, batch, line=BusinessLine.PINGOU)

    assert sorted(facts.kinds()) == sorted(
        [
            "placed_orders",
            "payments",
            "refunds",
            "groups_opened",
            "group_outcomes",
            "invites",
            "membership_sales",
            "link_lookups",
        ]
    )
    assert facts.rows("placed_orders") == [placed("po_1"), placed("po_2")]


# --- reports


async def test_a_report_holds_the_buckets_with_activity_in_time_order_and_the_total() -> None:
    nine, ten, eleven = (datetime(2026, 5, 1, hour, tzinfo=SHANGHAI) for hour in (9, 10, 11))
    total = Kpis(orders=5, ordering_users=3)
    source = FakeKpiSource({eleven: Kpis(orders=2), nine: Kpis(orders=3), ten: Kpis(ordering_users=1)}, total)

    report = await kpi_report(
        source, line=BusinessLine.PINGOU, granularity=Granularity.HOUR, start=None, end=None, now=NOW
    )

    (window,) = source.asked
    assert (window.start, window.end) == (
        datetime(2026, 5, 1, tzinfo=SHANGHAI),
        datetime(2026, 5, 1, 13, tzinfo=SHANGHAI),
    )
    assert [at for at, _ in report.buckets] == [nine, eleven]  # ten had distinct users only: no activity
    assert (report.line, report.total) == (BusinessLine.PINGOU, total)


async def test_a_report_of_an_empty_window_is_refused_before_the_facts_are_read() -> None:
    source = FakeKpiSource()
    with pytest.raises(InvalidArgument):
        await kpi_report(source, line=BusinessLine.MALL, granularity=Granularity.HOUR, start=NOW, end=NOW, now=NOW)
    assert source.asked == []


async def test_the_consumer_status_lists_the_lines_partitions_in_order() -> None:
    lags = [
        PartitionLag("pingou.order.v1", 2, 5),
        PartitionLag("pingou.groupbuy.v1", 0, 1),
        PartitionLag("pingou.order.v1", 0, 0),
    ]
    status = await consumer_status(
        FakeKpiSource(applied=(42, NOW)),
        FakeConsumerPositions(lags),
        topics=["pingou.order.v1", "pingou.groupbuy.v1"],
    )
    assert [(lag.topic, lag.partition) for lag in status.partitions] == [
        ("pingou.groupbuy.v1", 0),
        ("pingou.order.v1", 0),
        ("pingou.order.v1", 2),
    ]
    assert (status.events_applied, status.last_applied_at) == (42, NOW)


# --- the link lookup job


def waiting(*user_ids: str) -> FakeDatabase:
    """Lookups queued a second apart, in this order."""
    return FakeDatabase(lookups={user: NOW + timedelta(seconds=i) for i, user in enumerate(user_ids)})


async def test_a_lookup_records_the_links_both_ways_and_is_done() -> None:
    uow = FakeUnitOfWork(waiting(BUYER))
    settled = await look_up_links(uow, FakeSegmentation({BUYER: [MALL_BUYER]}), limit=10)

    assert (settled.done, settled.set_aside) == ([BUYER], [])
    assert uow.database.links == {(BUYER, MALL_BUYER), (MALL_BUYER, BUYER)}
    assert uow.database.lookups == {}
    assert uow.commits == 1


@pytest.mark.parametrize("answer", [None, []], ids=["unknown to segmentation", "no links"])
async def test_a_lookup_without_links_is_done_and_records_none(answer: list[str] | None) -> None:
    uow = FakeUnitOfWork(waiting(BUYER))
    segmentation = FakeSegmentation({} if answer is None else {BUYER: answer})
    settled = await look_up_links(uow, segmentation, limit=10)
    assert settled.done == [BUYER]
    assert (uow.database.links, uow.database.lookups) == (set(), {})


async def test_segmentation_not_answering_rolls_the_batch_back_for_a_later_try() -> None:
    uow = FakeUnitOfWork(waiting(BUYER, FRIEND))
    with pytest.raises(Unavailable):
        await look_up_links(uow, FakeSegmentation({BUYER: [MALL_BUYER]}, down=True), limit=10)
    assert set(uow.database.lookups) == {BUYER, FRIEND}
    assert uow.database.links == set()
    assert (uow.commits, uow.rollbacks) == (0, 1)


async def test_the_job_takes_the_oldest_lookups_first_and_skips_those_set_aside() -> None:
    database = waiting(BUYER, FRIEND, MALL_BUYER)
    database.set_aside.add((LINK_LOOKUP.name, BUYER))
    segmentation = FakeSegmentation()
    settled = await look_up_links(FakeUnitOfWork(database), segmentation, limit=1)
    assert settled.done == [FRIEND]
    assert segmentation.asked == [FRIEND]
    assert set(database.lookups) == {BUYER, MALL_BUYER}
