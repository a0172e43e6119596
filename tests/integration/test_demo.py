"""`make demo` works: a small simulated day (a few dozen orders) against the whole platform, every service a
real process (as `make up` runs them, analytics included) on a database and topics of its own, passes its
invariant check and reconciliation, prints the KPI table from the analytics API and writes its PNG. Its
checks read the real tables: an order left unpaid past its limit afterwards is reported."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from rich.console import Console

from deploy.local import services
from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from ops.checks import connect
from ops.platform import LocalPlatform
from simulator import checks
from simulator.run import DemoSettings, simulate
from tests.conftest import Infra
from tests.support.processes import platform_processes

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_DAY = DemoSettings(scale=0.05, seconds=20, flash_seconds=4)


def _row(text: str, name: str) -> list[str]:
    """The cells of the table row that starts with `name`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{text}")


async def test_a_small_demo_day_passes_its_checks_and_writes_its_chart(
    infra: Infra, keys: LocalKeys, page_token_key: Path, tmp_path: Path
) -> None:
    assert "analytics" in {spec.name for spec in services.SERVICES}, (
        "the demo reads its KPIs from the analytics service"
    )
    chart = tmp_path / "demo" / "day.png"
    console = Console(record=True, width=200)
    async with platform_processes(infra, keys, page_token_key, tmp_path, prefix_letter="d") as processes:
        platform = LocalPlatform(
            addresses=processes.addresses,
            database_url=processes.database_url,
            kafka_bootstrap=infra.kafka_bootstrap,
            keys=keys,
            data_dir=tmp_path,
            topic_prefix=processes.topic_prefix,
        )
        code = await simulate(platform, dataclasses.replace(SMALL_DAY, output=chart), console)
        # The checks count real rows: an order an hour past its payment limit (as if no timer ran) fails one.
        connection = await connect(processes.database_url)
        try:
            await connection.execute(
                """INSERT INTO order_mall.orders (order_id, user_id, kind, state, total_minor, currency, channel,
                                                  shipping_city, pay_by)
                   VALUES ('mo_stuck', 'mu_stuck', 'mall', 'pending_payment', 100, 'CNY', 'mall_app', '上海',
                           now() - interval '1 hour')"""
            )
            after = {check.name: check for check in await checks.invariants(connection, {})}
        finally:
            await connection.close()

    text = console.export_text()
    assert code == 0, text[-8000:]
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert f"chart: {chart}" in text.replace("\n", "")

    assert "KPIs from the analytics API" in text
    pingou_orders, mall_orders = (int(cell.replace(",", "")) for cell in _row(text, "orders")[1:3])
    assert pingou_orders >= 20, text
    assert mall_orders >= 10, text
    for line in (BusinessLine.PINGOU, BusinessLine.MALL):
        reconciled = _row(text, f"reconcile_{line.value}_orders")
        assert reconciled[-1] == "pass", reconciled
        counts = re.search(r"analytics (\d+), tables (\d+)", reconciled[1])
        assert counts is not None, reconciled
        assert counts[1] == counts[2] != "0"
    assert _row(text, "failed_group_not_refunded")[-1] == "pass"
    assert _row(text, "pingou_oversold")[-1] == "pass"
    assert "PASS: all" in text
    for shape in ("pingou ordering users from tier 3 to 6 cities", "pingou orders through the WeChat mini program"):
        assert _row(text, shape)[-1] == "yes", text

    assert after["order_unpaid_past_limit"].violations == 1
    assert after["group_over_size"].passed
