"""The chaos harness's own logic: which faults a schedule names, and how a consumer's count against its
source is read (lost, doubled, or a sum of money that is not a count of effects)."""

from __future__ import annotations

import pytest

from chaos.faults import schedule
from chaos.reconcile import Effect
from chaos.run import FaultResult, attribute_calls
from simulator.client import Tally

SERVICES = ["catalog", "segmentation", "membership", "order", "groupbuy", "analytics"]


def test_the_full_schedule_kills_every_service_restarts_both_servers_and_rolls_every_service() -> None:
    names = [fault.name for fault in schedule("all", SERVICES, broker_away_s=300)]
    assert [f"SIGKILL {name}" for name in SERVICES] == names[: len(SERVICES)]
    for name in ("Kafka broker restart", "PostgreSQL restart", "Kafka broker away 300 s", "rolling restart (SIGTERM)"):
        assert name in names
    assert any(" + " in name for name in names)  # faults together
    rolling = [fault for fault in schedule("all", SERVICES, broker_away_s=300) if fault.rolling]
    assert [fault.name for fault in rolling] == ["rolling restart (SIGTERM)"]


def test_faults_named_one_by_one_and_an_unknown_name_is_refused() -> None:
    chosen = schedule("kill-order,postgres-restart", SERVICES, broker_away_s=60)
    assert [fault.name for fault in chosen] == ["SIGKILL order", "PostgreSQL restart"]
    assert chosen[1].needs == frozenset({"postgres"})
    with pytest.raises(ValueError, match="unknown faults"):
        schedule("kill-nobody", SERVICES, broker_away_s=60)
    with pytest.raises(ValueError, match="unknown faults"):
        schedule("", SERVICES, broker_away_s=60)


def test_a_consumer_count_below_its_source_is_lost_above_it_doubled_and_money_is_neither() -> None:
    assert (
        Effect("pingou", "orders", "analytics", 8, 10).lost,
        Effect("pingou", "orders", "analytics", 8, 10).doubled,
    ) == (2, 0)
    assert Effect("mall", "orders", "analytics", 11, 10).doubled == 1
    money = Effect("mall", "gmv_minor", "analytics", 100, 250)
    assert (money.counts_events, money.lost, money.doubled) == (False, 0, 0)


def test_each_call_counts_for_the_first_fault_it_overlapped() -> None:
    broker_away = FaultResult("broker away", 0, 0, 1.0, 10.0, rolling=False, window=(10.0, 20.0))
    rolling = FaultResult("rolling restart", 0, 0, 1.0, 5.0, rolling=True, window=(30.0, 35.0))
    tally = Tally()
    tally.timeline += [
        (12.0, 32.0, "ConfirmPayment", "ORDER_NOT_FOUND"),  # waited through the broker's absence, ended later
        (31.0, 31.5, "JoinGroup", None),
        (9.0, 10.5, "PlaceOrder", "UNAVAILABLE"),  # in flight when the fault began
        (25.0, 26.0, "GetGroup", "DEADLINE_EXCEEDED"),  # between faults
    ]
    between = attribute_calls([broker_away, rolling], tally)
    assert (broker_away.operations, broker_away.client_errors) == (2, 2)
    assert broker_away.errors_by_kind == {"ConfirmPayment ORDER_NOT_FOUND": 1, "PlaceOrder UNAVAILABLE": 1}
    assert (rolling.operations, rolling.client_errors) == (1, 0)
    assert between == 1
