"""`make chaos` works: a short run (services SIGKILLed mid-delivery, one of them while the broker restarts, a
rolling restart with SIGTERM) under simulated load against every service as a real process, on a database and topics of
its own. It recovers from every fault, loses and doubles no effect, breaks no invariant, and the clients
see no failed call during the rolling restart; the JSON has every key the issue names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from chaos.run import ChaosSettings, run_chaos
from chaos.target import Target
from libs.auth.local import LocalKeys
from tests.conftest import Infra
from tests.support.processes import platform_processes

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

KEYS = (
    "faults_injected",
    "operations",
    "invariant_violations",
    "lost_effects",
    "duplicate_effects",
    "failed_rpcs_rolling_restart",
    "recovery_s_max",
)


async def test_a_short_chaos_run_recovers_from_each_fault_and_loses_no_effect(
    infra: Infra, keys: LocalKeys, page_token_key: Path, tmp_path: Path
) -> None:
    console = Console(record=True, width=200)
    output = tmp_path / "chaos.json"
    async with platform_processes(infra, keys, page_token_key, tmp_path, prefix_letter="x") as processes:
        target = Target(
            profile="test",
            data_dir=tmp_path,
            env=processes.env,
            specs=processes.specs,
            database_url=processes.database_url,
            kafka_bootstrap=infra.kafka_bootstrap,
            keys=keys,
            topic_prefix=processes.topic_prefix,
        )
        code = await run_chaos(target, ChaosSettings(faults="short", scale=0.3, output=output), console)
    text = console.export_text()
    summary = json.loads(output.read_text())
    assert code == 0, text
    assert set(KEYS) <= set(summary)
    faults = {fault["fault"]: fault for fault in summary["faults"]}
    assert {
        "SIGKILL groupbuy",
        "SIGKILL analytics",
        "SIGKILL order + Kafka broker restart",
        "rolling restart (SIGTERM)",
    } <= set(faults)
    assert all(fault["recovery_s"] is not None for fault in faults.values() if not fault["skipped"])
    assert summary["operations"] > 0
    assert (summary["invariant_violations"], summary["lost_effects"], summary["duplicate_effects"]) == (0, 0, 0)
    assert summary["failed_rpcs_rolling_restart"] == 0
    consumers = {effect["consumer"] for effect in summary["effects"]}
    assert consumers == {"analytics", "segmentation", "groupbuy"}
    assert "written:" in text
