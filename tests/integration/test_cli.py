"""The `pingou` CLI against the test platform: catalog, segmentation, membership, order, groupbuy and analytics
served in-process on a fresh database, the CLI pointed at them (PINGOU_<SERVICE>_ADDRESS) and minting with the suite's
keys (PINGOU_KEYS_DIR). Each command runs in typer's test runner on a thread of its own, so the services keep
serving on the test's event loop meanwhile."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import sys
import types
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.analytics.v1 import analytics_pb2 as analytics_pb
from pingou.common.v1 import common_pb2
from pingou.order.v1 import order_pb2
from rich.console import Console
from typer.testing import CliRunner, Result

from cli import simulate
from cli.kpi import render_report
from cli.main import app
from deploy.local.services import SERVICES
from libs.auth.local import LocalKeys
from services.analytics.bootstrap import AnalyticsSettings
from services.analytics.bootstrap import build_app as build_analytics
from tests.conftest import Infra, Mint
from tests.integration.groupbuy.conftest import groupbuy_settings, start_groupbuy
from tests.integration.order.conftest import running_shop
from tests.support.notes import running_app
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra
MERCHANT, CATEGORY = "m-yiwu-goods-trade", "daily"


@dataclass(frozen=True)
class CliPlatform:
    env: dict[str, str]  # what points the CLI at the platform: its addresses and keys

    @property
    def started(self) -> set[str]:
        return {key.removeprefix("PINGOU_").removesuffix("_ADDRESS").lower() for key in self.env if "ADDRESS" in key}


@pytest.fixture(scope="module")
async def platform(
    infra: Infra, keys: LocalKeys, page_token_key: Path, topic_prefix: str, mint: Mint
) -> AsyncIterator[CliPlatform]:
    prefix = f"{topic_prefix}cli{uuid.uuid4().hex[:6]}."
    async with running_shop(infra, keys, mint, page_token_key=page_token_key, prefix=prefix) as running:
        groupbuy = await start_groupbuy(groupbuy_settings(running.common, running.ports, keys, {}))
        analytics_settings = AnalyticsSettings(
            **running.common,
            segmentation_address=f"127.0.0.1:{running.ports['segmentation']}",
            service_signing_key_file=keys.service_key_file("analytics"),
        )
        try:
            async with running_app(build_analytics, analytics_settings) as analytics:
                ports = {**running.ports, "groupbuy": groupbuy.port, "analytics": analytics.port}
                env = {f"PINGOU_{name.upper()}_ADDRESS": f"127.0.0.1:{port}" for name, port in ports.items()}
                # Wide enough that rich never folds an id inside a table cell.
                yield CliPlatform({**env, "PINGOU_KEYS_DIR": str(keys.folder), "COLUMNS": "250"})
        finally:
            await groupbuy.stop()


async def pingou(platform: CliPlatform, *args: str, **env: str) -> Result:
    """Run `pingou ARGS` as a person would, with the platform's environment (and `env` on top)."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env={**platform.env, **env}, catch_exceptions=False)


async def answer(platform: CliPlatform, *args: str) -> Any:
    """The JSON a successful `pingou --json ARGS` prints."""
    result = await pingou(platform, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(result: Result) -> str:
    """The one error line of a refused command, checked to be all it printed (no traceback)."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    return line


async def listed_sku(platform: CliPlatform, *, size: int, stock: int = 20) -> str:
    product = await answer(
        platform, "products", "create", "--merchant", MERCHANT, "--category", CATEGORY, "--title", "CLI 收纳盒"
    )
    sku = str(product["skus"][0]["sku_id"])
    await answer(platform, "listings", "upsert", sku, "--solo-price", "20.90", "--group-price", "15.90",
                 "--size", str(size), "--window-minutes", "60")  # fmt: skip
    await answer(platform, "stock", "set", sku, str(stock))
    return sku


async def registered(platform: CliPlatform, city: str = "临沂") -> str:
    user = await answer(platform, "users", "register", "--city", city)
    return str(user["user_id"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- catalog


async def test_an_operator_creates_a_product_lists_it_and_sets_its_stock(platform: CliPlatform) -> None:
    product = await answer(
        platform, "products", "create", "--merchant", MERCHANT, "--category", CATEGORY, "--title", "义乌 收纳篮",
        "--sku", "大号", "--sku", "小号",
    )  # fmt: skip
    assert [sku["title"] for sku in product["skus"]] == ["大号", "小号"]
    sku = product["skus"][0]["sku_id"]
    listing = await answer(
        platform, "listings", "upsert", sku, "--solo-price", "20.90", "--group-price", "15.9", "--size", "3",
        "--leader-price", "9.90", "--new-user-only",
    )  # fmt: skip
    assert listing["pingou"]["group_price_minor"] == "1590"  # proto JSON: int64 as a string
    assert (listing["pingou"]["rule"]["size"], listing["pingou"]["rule"]["new_user_only"]) == (3, True)
    assert (await answer(platform, "stock", "set", sku, "40"))["available"] == "40"
    assert (await answer(platform, "stock", "show", sku))["available"] == "40"

    shown = await pingou(platform, "listings", "show", sku)
    assert shown.exit_code == 0, shown.output
    assert all(text in shown.stdout for text in (sku, "¥20.90", "¥15.90", "¥9.90", "3 people", "new users only"))
    products = await pingou(platform, "products", "show", product["product_id"])
    assert products.exit_code == 0, products.output
    assert all(text in products.stdout for text in ("义乌 收纳篮", MERCHANT, "大号", "小号"))
    found = await answer(platform, "listings", "search", "收纳篮", "--limit", "100")
    assert sku in [item["sku_id"] for item in found["listings"]]
    mall = await pingou(platform, "--line", "mall", "listings", "upsert", sku, "--price", "25", "--plus-price", "22.5")
    assert mall.exit_code == 0, mall.output
    assert "¥25.00" in mall.stdout
    assert "¥22.50" in mall.stdout


async def test_merchants_are_listed_by_belt(platform: CliPlatform) -> None:
    result = await pingou(platform, "merchants", "list", "--belt", "caoxian-hanfu")
    assert result.exit_code == 0, result.output
    assert "m-caoxian-hanfu-factory" in result.stdout
    assert "m-caoxian-hanfu-trade" in result.stdout
    assert "m-yiwu-goods-trade" not in result.stdout
    first = await answer(platform, "merchants", "list", "--limit", "1")
    assert len(first["merchants"]) == 1
    following = await answer(platform, "merchants", "list", "--limit", "1", "--page-token", first["next_page_token"])
    assert following["merchants"][0]["merchant_id"] > first["merchants"][0]["merchant_id"]


# --- users, groups and orders


async def test_buyers_open_and_join_a_group_and_see_it_with_their_orders(platform: CliPlatform) -> None:
    sku = await listed_sku(platform, size=3)
    leader, friend = await registered(platform), await registered(platform, city="菏泽")
    opened = await answer(platform, "groups", "open", "--as", leader, "--sku", sku, "--channel", "pingou-app")
    group_id, leader_order = opened["group"]["group_id"], opened["order"]["order_id"]
    assert (opened["seat"]["user_id"], opened["seat"]["leader"], opened["order"]["channel"]) == (
        leader,
        True,
        "CHANNEL_PINGOU_APP",
    )
    joined = await answer(platform, "groups", "join", "--as", friend, "--invite", opened["seat"]["invite_code"])
    assert (joined["group"]["group_id"], joined["group"]["seats_taken"], joined["seat"]["inviter_user_id"]) == (
        group_id,
        2,
        leader,
    )

    shown = await pingou(platform, "groups", "show", group_id)
    assert shown.exit_code == 0, shown.output
    assert all(text in shown.stdout for text in (group_id, sku, "2 taken, 0 paid of 3", leader, friend, "¥15.90"))
    open_groups = await answer(platform, "groups", "list", "--sku", sku)
    assert [group["group_id"] for group in open_groups["groups"]] == [group_id]
    assert group_id in (await pingou(platform, "groups", "list", "--user", friend)).stdout

    listed = await pingou(platform, "orders", "list", "--user", leader)
    assert listed.exit_code == 0, listed.output
    assert leader_order in listed.stdout
    assert "pending_payment" in listed.stdout
    paid = await answer(platform, "orders", "pay", leader_order)
    assert paid["state"] in ("ORDER_STATE_PAID", "ORDER_STATE_AWAITING_GROUP")
    order = await pingou(platform, "orders", "show", leader_order)
    assert order.exit_code == 0, order.output
    assert all(text in order.stdout for text in (leader_order, group_id, sku, "¥15.90", "pingou_app"))


async def test_a_refused_join_prints_its_status_and_reason_and_exits_1(platform: CliPlatform) -> None:
    sku = await listed_sku(platform, size=2)
    first, second, third = [await registered(platform) for _ in range(3)]
    opened = await answer(platform, "groups", "open", "--as", first, "--sku", sku)
    group_id = opened["group"]["group_id"]
    await answer(platform, "groups", "join", "--as", second, "--group", group_id)
    line = refused(await pingou(platform, "groups", "join", "--as", third, "--group", group_id))
    assert line == f"error: FAILED_PRECONDITION GROUP_FULL: group {group_id} has no free seat (2 of 2 taken)"


async def test_a_bad_id_is_invalid_argument_naming_the_field(platform: CliPlatform) -> None:
    line = refused(await pingou(platform, "groups", "show", "not-a-group"))
    assert line == "error: INVALID_ARGUMENT: invalid request: group_id is not a valid id (UUID)"
    line = refused(await pingou(platform, "--json", "users", "show", "pu_x"))
    assert line == "error: INVALID_ARGUMENT: invalid request: user_id is not a user id (pu_<number> or mu_<number>)"


async def test_usage_errors_exit_2_before_any_call(platform: CliPlatform) -> None:
    no_target = await pingou(platform, "groups", "join", "--as", "pu_1")
    assert no_target.exit_code == 2
    assert "one of --group and --invite" in no_target.stderr
    bad_price = await pingou(platform, "listings", "upsert", "sku-1", "--solo-price", "9.999", "--group-price", "1")
    assert bad_price.exit_code == 2
    assert "at most two decimals" in bad_price.stderr
    bad_line = await pingou(platform, "--line", "moon", "status")
    assert bad_line.exit_code == 2


async def test_a_token_given_is_sent_instead_of_a_minted_one(platform: CliPlatform) -> None:
    line = refused(await pingou(platform, "--token", "not-a-jwt", "segments", "list"))
    assert line.startswith("error: UNAUTHENTICATED")
    line = refused(await pingou(platform, "segments", "list", PINGOU_TOKEN="not-a-jwt"))
    assert line.startswith("error: UNAUTHENTICATED")


# --- PLUS and segments


async def test_plus_is_bought_once_as_a_trial_and_shown(platform: CliPlatform) -> None:
    user = await registered(platform)
    member = await answer(platform, "plus", "buy", user, "--plan", "trial")
    assert (member["user_id"], member["state"], member["plan"]) == (user, "MEMBERSHIP_STATE_ACTIVE", "PLAN_TRIAL")
    shown = await pingou(platform, "plus", "show", user)
    assert shown.exit_code == 0, shown.output
    assert "active" in shown.stdout
    assert "trial" in shown.stdout
    line = refused(await pingou(platform, "plus", "buy", user, "--plan", "trial"))
    assert line.startswith("error: FAILED_PRECONDITION TRIAL_ALREADY_USED: this person has already had a PLUS trial")


async def test_segments_are_defined_listed_and_their_members_shown(platform: CliPlatform) -> None:
    segment = f"cli-tier3to6-{uuid.uuid4().hex[:6]}"
    in_tier_4, in_tier_1 = await registered(platform, city="菏泽"), await registered(platform, city="北京")
    defined = await answer(
        platform, "segments", "define", segment, "--min-tier", "3", "--max-tier", "6", "--description", "三到六线"
    )
    assert (defined["segment_id"], defined["version"], defined["rule"]["min_tier"]) == (segment, 1, 3)
    again = await answer(platform, "segments", "define", segment, "--min-tier", "3", "--channel", "wechat-mini-program")
    assert again["version"] == 2
    listed = await pingou(platform, "segments", "list")
    assert listed.exit_code == 0, listed.output
    assert segment in listed.stdout
    assert "tier 3-6, channel wechat_mini_program" in listed.stdout
    members = await answer(platform, "segments", "members", segment, "--limit", "500")
    ids = [user["user_id"] for user in members["users"]]
    assert in_tier_4 in ids
    assert in_tier_1 not in ids
    assert segment in (await pingou(platform, "users", "segments", in_tier_4)).stdout


# --- status, unreachable services, KPIs


async def test_status_reports_the_health_of_every_service(platform: CliPlatform) -> None:
    result = await pingou(platform, "--json", "status")
    rows = {row["service"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {spec.name for spec in SERVICES}
    assert {name: rows[name]["status"] for name in platform.started} == dict.fromkeys(platform.started, "SERVING")
    assert rows["groupbuy"]["address"] == platform.env["PINGOU_GROUPBUY_ADDRESS"]
    # A service of the platform that this test did not start is DOWN, and then the exit code says so.
    assert result.exit_code == (0 if set(rows) <= platform.started else 1)


async def test_a_service_that_does_not_answer_is_named_with_its_address(platform: CliPlatform) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    line = refused(await pingou(platform, "groups", "show", str(uuid.uuid4()), PINGOU_GROUPBUY_ADDRESS=nowhere))
    assert line.startswith(f"error: UNAVAILABLE: groupbuy at {nowhere} did not answer")
    status = await pingou(platform, "status", PINGOU_GROUPBUY_ADDRESS=nowhere)
    assert status.exit_code == 1
    (groupbuy,) = [row for row in status.stdout.splitlines() if "groupbuy" in row]
    assert nowhere in groupbuy
    assert "DOWN" in groupbuy


async def test_kpi_prints_the_report_of_the_line_from_analytics(platform: CliPlatform) -> None:
    sku = await listed_sku(platform, size=2)
    leader = await registered(platform, city="菏泽")
    opened = await answer(platform, "groups", "open", "--as", leader, "--sku", sku)
    await answer(platform, "orders", "pay", opened["order"]["order_id"])

    async def counted() -> dict[str, Any] | None:
        report: dict[str, Any] = await answer(platform, "kpi", "--granularity", "day")
        total = report["total"]
        return report if int(total["groups_opened"]) >= 1 and int(total["paying_users"]) >= 1 else None

    report = await eventually(counted)
    assert report is not None
    assert (report["line"], report["granularity"], len(report["buckets"])) == (
        "BUSINESS_LINE_PINGOU",
        "GRANULARITY_DAY",
        1,
    )
    table = await pingou(platform, "kpi", "--granularity", "day")
    assert table.exit_code == 0, table.output
    assert "pingou KPIs by day" in table.stdout
    assert all(column in table.stdout for column in ("mini-program share", "tier 3-6 share", "GMV", "total"))
    mall = await answer(platform, "--line", "mall", "kpi", "--from", "2026-06-18", "--to", "2026-06-19")
    assert (mall["line"], mall["from"], mall["to"]) == (
        "BUSINESS_LINE_MALL",
        "2026-06-17T16:00:00Z",  # midnight in China
        "2026-06-18T16:00:00Z",
    )


# --- the simulator


def test_simulate_hands_its_arguments_to_the_simulator_and_exits_with_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received: list[list[str]] = []

    def main(argv: list[str]) -> int:
        received.append(argv)
        return 3

    entry = types.ModuleType("simulator_for_test.run")
    entry.main = main  # type: ignore[attr-defined]  # a module made here, with the entry the CLI calls
    monkeypatch.setitem(sys.modules, entry.__name__, entry)
    monkeypatch.setattr(simulate, "ENTRY", entry.__name__)
    result = CliRunner().invoke(app, ["simulate", "--seconds", "60", "--help"], catch_exceptions=False)
    assert (result.exit_code, received) == (3, [["--seconds", "60", "--help"]])


def test_simulate_without_the_simulator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate, "ENTRY", "simulator_not_in_this_checkout.run")
    line = refused(CliRunner().invoke(app, ["simulate"], catch_exceptions=False))
    assert line == "error: the simulator is not part of this checkout (no module simulator_not_in_this_checkout)"


def test_the_kpi_report_shows_every_bucket_the_total_and_the_headline_shares() -> None:
    def at(text: str) -> Timestamp:
        stamp = Timestamp()
        stamp.FromJsonString(text)
        return stamp

    kpis = analytics_pb.Kpis(
        orders=51,
        items=60,
        gmv_minor=81_090,
        paying_users=40,
        ordering_users=45,
        orders_by_channel=[analytics_pb.ChannelCount(channel=order_pb2.CHANNEL_WECHAT_MINI_PROGRAM, orders=26)],
        mini_program_share=26 / 51,
        ordering_users_by_city_tier=[analytics_pb.TierCount(city_tier=4, users=30)],
        tier3_to_6_share=30 / 45,
        groups_opened=12,
        groups_completed=9,
        groups_failed=1,
        mean_completion_seconds=754,
        memberships_sold=7,
    )
    report = analytics_pb.KpiReport(
        line=common_pb2.BUSINESS_LINE_PINGOU,
        granularity=analytics_pb.GRANULARITY_HOUR,
        to=at("2026-06-18T04:00:00Z"),
        buckets=[
            analytics_pb.KpiBucket(start=at("2026-06-18T02:00:00Z"), kpis=kpis),
            analytics_pb.KpiBucket(start=at("2026-06-18T03:00:00Z"), kpis=analytics_pb.Kpis(orders=3)),
        ],
        total=kpis,
    )
    getattr(report, "from").CopyFrom(at("2026-06-17T16:00:00Z"))
    screen = io.StringIO()
    console = Console(file=screen, width=250)
    for part in render_report(report):
        console.print(part)
    text = screen.getvalue()
    assert "pingou KPIs by hour, 2026-06-18 00:00:00 to 2026-06-18 12:00:00" in text
    rows = [[cell.strip() for cell in row.split("│")[1:-1]] for row in text.splitlines() if row.startswith("│")]
    assert [row[:2] for row in rows[:3]] == [["2026-06-18 10:00", "51"], ["2026-06-18 11:00", "3"], ["total", "51"]]
    total = " ".join(rows[2])
    assert all(text in total for text in ("51", "¥810.90", "51.0%", "66.7%", "12/9/1", "12m 34s"))
    assert "wechat_mini_program" in text
