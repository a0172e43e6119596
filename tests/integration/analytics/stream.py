"""A hand-made event stream of both lines on 2026-06-18 (Beijing time), and the KPIs worked out by hand
from it (in the comments beside each figure), as the tests expect them.

The people (users registered with segmentation; phones link accounts across the lines):
  P1 (pingou, phone A) = M1 (mall, phone A)      P4 (pingou, phone C) = M2 (mall, phone C)
  P2 (pingou, phone B)   P3 (pingou)   M3 (mall)   P5 (pingou, never registered with segmentation)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.groupbuy.v1 import events_pb2 as groupbuy
from pingou.membership.v1 import events_pb2 as membership
from pingou.order.v1 import events_pb2 as order_events
from pingou.order.v1 import order_pb2 as order

from libs.convert import timestamp
from libs.core import BusinessLine
from services.analytics.domain.model import SHANGHAI
from tests.integration.analytics.conftest import Event

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
DAY = datetime(2026, 6, 18, tzinfo=SHANGHAI)
TEN = DAY.replace(hour=10)
ELEVEN, NOON = DAY.replace(hour=11), DAY.replace(hour=12)
MINI, APP, H5, MALL_APP = (
    order.CHANNEL_WECHAT_MINI_PROGRAM,
    order.CHANNEL_PINGOU_APP,
    order.CHANNEL_H5,
    order.CHANNEL_MALL_APP,
)
UNREGISTERED = "pu_9000001"  # P5


def at(minutes: int, seconds: int = 0, *, hour: int = 10) -> datetime:
    return DAY.replace(hour=hour) + timedelta(minutes=minutes, seconds=seconds)


@dataclass(frozen=True)
class People:
    p1: str
    p2: str
    p3: str
    p4: str
    m1: str
    m2: str
    m3: str
    p5: str = UNREGISTERED


def placed(
    line: BusinessLine,
    order_id: str,
    user: str,
    when: datetime,
    *,
    quantities: list[int],
    unit: int,
    channel: order.Channel.ValueType,
    city: str,
) -> Event:
    items = [
        order.OrderItem(sku_id=f"sku-{index}", quantity=quantity, unit_price_minor=unit)
        for index, quantity in enumerate(quantities)
    ]
    placed_order = order.Order(
        order_id=order_id,
        user_id=user,
        kind=order.ORDER_KIND_GROUP if line is PINGOU else order.ORDER_KIND_MALL,
        state=order.ORDER_STATE_PENDING_PAYMENT,
        items=items,
        total_minor=unit * sum(quantities),
        currency="CNY",
        channel=channel,
        shipping_city=city,
        created_at=timestamp(when),
    )
    return Event(line, "order", order_id, order_events.OrderPlaced(order=placed_order), when)


def paid(line: BusinessLine, order_id: str, user: str, when: datetime, amount: int) -> Event:
    payload = order_events.OrderPaid(
        order_id=order_id, user_id=user, amount_minor=amount, currency="CNY", paid_at=timestamp(when)
    )
    return Event(line, "order", order_id, payload, when)


def refunded(order_id: str, user: str, when: datetime, amount: int) -> Event:
    payload = order_events.OrderRefunded(
        order_id=order_id, user_id=user, amount_minor=amount, refunded_at=timestamp(when), refund_id=f"rf-{order_id}"
    )
    return Event(PINGOU, "order", order_id, payload, when)


def opened(group_id: str, leader: str, when: datetime) -> Event:
    payload = groupbuy.GroupOpened(
        group_id=group_id,
        leader_user_id=leader,
        sku_id="sku-0",
        size=2,
        opened_at=timestamp(when),
        expires_at=timestamp(when + timedelta(hours=24)),
    )
    return Event(PINGOU, "groupbuy", group_id, payload, when)


def seat(group_id: str, user: str, when: datetime, *, inviter: str = "", leader: bool = False) -> Event:
    payload = groupbuy.SeatHeld(
        group_id=group_id,
        user_id=user,
        inviter_user_id=inviter,
        held_at=timestamp(when),
        seat_id=str(uuid.uuid4()),
        sku_id="sku-0",
        leader=leader,
    )
    return Event(PINGOU, "groupbuy", group_id, payload, when)


def completed(group_id: str, opened_at: datetime, when: datetime, *, reannounced: bool = False) -> Event:
    payload = groupbuy.GroupCompleted(
        group_id=group_id,
        sku_id="sku-0",
        size=2,
        opened_at=timestamp(opened_at),
        completed_at=timestamp(when),
        reannounced=reannounced,
    )
    return Event(PINGOU, "groupbuy", group_id, payload, when)


def failed(group_id: str, when: datetime, *, reannounced: bool = False) -> Event:
    payload = groupbuy.GroupFailed(
        group_id=group_id,
        sku_id="sku-0",
        size=3,
        failed_at=timestamp(when),
        reason=groupbuy.FAILURE_REASON_WINDOW_ENDED,
        reannounced=reannounced,
    )
    return Event(PINGOU, "groupbuy", group_id, payload, when)


def purchased(line: BusinessLine, user: str, when: datetime, *, plan: membership.Plan.ValueType, amount: int) -> Event:
    payload = membership.MembershipPurchased(
        user_id=user,
        plan=plan,
        starts_at=timestamp(when),
        expires_at=timestamp(when + timedelta(days=30)),
        payment_reference=f"pay-{uuid.uuid4().hex}",
        amount_minor=amount,
        currency="CNY",
    )
    return Event(line, "membership", user, payload, when)


def renewed(line: BusinessLine, user: str, when: datetime, *, amount: int) -> Event:
    payload = membership.MembershipRenewed(
        user_id=user,
        plan=membership.PLAN_MONTHLY,
        expires_at=timestamp(when + timedelta(days=60)),
        payment_reference=f"pay-{uuid.uuid4().hex}",
        amount_minor=amount,
        currency="CNY",
    )
    return Event(line, "membership", user, payload, when)


def order_id(line: BusinessLine, name: str) -> str:
    return f"{'po' if line is PINGOU else 'mo'}_{name}{uuid.uuid4().hex[:20]}"


def the_day(people: People) -> list[Event]:
    p = people
    po = {name: order_id(PINGOU, name) for name in "abcdef"}
    mo = {name: order_id(MALL, name) for name in "abc"}
    g1, g2, g3 = (str(uuid.uuid4()) for _ in range(3))
    return [
        # pingou orders: placed (who, when, items, channel, city -> tier) and paid
        placed(PINGOU, po["a"], p.p1, at(0, 10), quantities=[1, 1], unit=990, channel=MINI, city="上海"),  # tier 1
        placed(PINGOU, po["b"], p.p2, at(0, 30), quantities=[1], unit=990, channel=MINI, city="菏泽"),  # tier 4
        placed(PINGOU, po["c"], p.p1, at(1, 5), quantities=[3], unit=990, channel=APP, city="菏泽市"),  # tier 4
        placed(PINGOU, po["d"], p.p3, at(1, 20), quantities=[1], unit=990, channel=H5, city="曹县"),  # tier 6, unpaid
        placed(PINGOU, po["e"], p.p4, at(1, hour=11), quantities=[1], unit=990, channel=MINI, city="成都"),  # tier 2
        placed(PINGOU, po["f"], p.p5, at(10, hour=11), quantities=[1], unit=990, channel=MINI, city="玉溪"),  # tier 5
        paid(PINGOU, po["a"], p.p1, at(0, 40), 1980),  # P1's first payment, after M1's (10:00:20): not new
        paid(PINGOU, po["b"], p.p2, at(1, 10), 990),  # P2: no other account, new
        paid(PINGOU, po["c"], p.p1, at(1, 30), 2970),
        paid(PINGOU, po["e"], p.p4, at(1, 30, hour=11), 990),  # P4: before M2 (11:30): new
        paid(PINGOU, po["f"], p.p5, at(10, 30, hour=11), 990),  # P5: unknown to segmentation, new
        refunded(po["b"], p.p2, at(2, hour=11), 990),
        # groups: g1 completes (95 s), g3 completes (105 s), g2 fails; repeats of the outcomes count nothing
        opened(g1, p.p1, at(0, 5)),
        seat(g1, p.p1, at(0, 5), leader=True),
        opened(g2, p.p2, at(0, 20)),
        seat(g1, p.p2, at(0, 25), inviter=p.p1),  # an invite
        seat(g2, p.p3, at(1, 15), inviter=p.p2),  # an invite
        completed(g1, at(0, 5), at(1, 40)),
        completed(g1, at(0, 5), at(2, 30), reannounced=True),
        opened(g3, p.p4, at(0, hour=11)),
        seat(g3, p.p4, at(0, 30, hour=11), leader=True),
        completed(g3, at(0, hour=11), at(1, 45, hour=11)),
        failed(g2, at(5, hour=11)),
        failed(g2, at(6, hour=11), reannounced=True),
        # PLUS
        purchased(PINGOU, p.p2, at(0, 50), plan=membership.PLAN_MONTHLY, amount=1200),
        renewed(PINGOU, p.p1, at(3, hour=11), amount=1200),
        purchased(MALL, p.m1, at(5), plan=membership.PLAN_TRIAL, amount=0),
        # mall orders
        placed(MALL, mo["a"], p.m1, at(0), quantities=[1], unit=5990, channel=MALL_APP, city="上海"),  # tier 1
        placed(MALL, mo["b"], p.m3, at(2), quantities=[2], unit=990, channel=H5, city="菏泽"),  # tier 4
        placed(MALL, mo["c"], p.m2, at(29, hour=11), quantities=[1], unit=990, channel=MALL_APP, city="成都"),  # 2
        paid(MALL, mo["a"], p.m1, at(0, 20), 5990),  # M1: before P1, new
        paid(MALL, mo["b"], p.m3, at(2, 30), 1980),  # M3: no other account, new
        paid(MALL, mo["c"], p.m2, at(30, hour=11), 990),  # M2: after P4, not new
    ]


# Events each line's consumer applies (every event above is of a type analytics reads).
APPLIED = {PINGOU: 26, MALL: 7}


def kpis(**values: object) -> dict[str, object]:
    """Every KPI of a bucket: zero unless given."""
    found: dict[str, object] = {
        "orders": 0, "items": 0, "gmv_minor": 0, "paying_users": 0, "ordering_users": 0, "orders_by_channel": {},
        "mini_program_share": 0.0, "ordering_users_by_city_tier": {}, "tier3_to_6_share": 0.0,
        "new_to_company_users": 0, "groups_opened": 0, "groups_completed": 0, "groups_failed": 0,
        "mean_completion_seconds": 0.0, "invites": 0, "memberships_sold": 0, "refunds": 0, "refunded_minor": 0,
    }  # fmt: skip
    found.update(values)
    return found


PINGOU_TOTAL = kpis(
    orders=6,  # a..f
    items=9,  # 2 + 1 + 3 + 1 + 1 + 1
    gmv_minor=7920,  # 1980 + 990 + 2970 + 990 + 990
    paying_users=4,  # P1, P2, P4, P5
    ordering_users=5,  # P1..P5
    orders_by_channel={MINI: 4, APP: 1, H5: 1},
    mini_program_share=4 / 6,
    ordering_users_by_city_tier={1: 1, 2: 1, 4: 2, 5: 1, 6: 1},  # P1 in tiers 1 and 4: 6 entries, 5 users
    tier3_to_6_share=4 / 5,  # P1 (菏泽), P2, P3, P5 of 5
    new_to_company_users=3,  # P2, P4, P5
    groups_opened=3,
    groups_completed=2,  # g1, g3 (not g1's repeat)
    groups_failed=1,  # g2 (not its repeat)
    mean_completion_seconds=100.0,  # (95 + 105) / 2
    invites=2,
    memberships_sold=2,
    refunds=1,
    refunded_minor=990,
)
PINGOU_BY_HOUR = {
    TEN: kpis(
        orders=4, items=7, gmv_minor=5940, paying_users=2, ordering_users=3, orders_by_channel={MINI: 2, APP: 1, H5: 1},
        mini_program_share=0.5, ordering_users_by_city_tier={1: 1, 4: 2, 6: 1}, tier3_to_6_share=1.0,
        new_to_company_users=1, groups_opened=2, groups_completed=1, mean_completion_seconds=95.0, invites=2,
        memberships_sold=1,
    ),
    ELEVEN: kpis(
        orders=2, items=2, gmv_minor=1980, paying_users=2, ordering_users=2, orders_by_channel={MINI: 2},
        mini_program_share=1.0, ordering_users_by_city_tier={2: 1, 5: 1}, tier3_to_6_share=0.5,
        new_to_company_users=2, groups_opened=1, groups_completed=1, groups_failed=1, mean_completion_seconds=105.0,
        memberships_sold=1, refunds=1, refunded_minor=990,
    ),
}  # fmt: skip
# 10:00 to 10:02 by minute: P1 pays in both minutes, so the window has 2 paying users, not 1 + 2.
PINGOU_FIRST_MINUTES = {
    TEN: kpis(
        orders=2, items=3, gmv_minor=1980, paying_users=1, ordering_users=2, orders_by_channel={MINI: 2},
        mini_program_share=1.0, ordering_users_by_city_tier={1: 1, 4: 1}, tier3_to_6_share=0.5, groups_opened=2,
        invites=1, memberships_sold=1,
    ),
    TEN + timedelta(minutes=1): kpis(
        orders=2, items=4, gmv_minor=3960, paying_users=2, ordering_users=2, orders_by_channel={APP: 1, H5: 1},
        ordering_users_by_city_tier={4: 1, 6: 1}, tier3_to_6_share=1.0, new_to_company_users=1, groups_completed=1,
        mean_completion_seconds=95.0, invites=1,
    ),
}  # fmt: skip
PINGOU_FIRST_MINUTES_TOTAL = kpis(
    orders=4, items=7, gmv_minor=5940, paying_users=2, ordering_users=3, orders_by_channel={MINI: 2, APP: 1, H5: 1},
    mini_program_share=0.5, ordering_users_by_city_tier={1: 1, 4: 2, 6: 1}, tier3_to_6_share=1.0,
    new_to_company_users=1, groups_opened=2, groups_completed=1, mean_completion_seconds=95.0, invites=2,
    memberships_sold=1,
)  # fmt: skip

MALL_TOTAL = kpis(
    orders=3, items=4, gmv_minor=8960, paying_users=3, ordering_users=3, orders_by_channel={MALL_APP: 2, H5: 1},
    ordering_users_by_city_tier={1: 1, 2: 1, 4: 1}, tier3_to_6_share=1 / 3, new_to_company_users=2,  # M1, M3
    memberships_sold=1,  # a trial is a PLUS purchase too
)  # fmt: skip
MALL_BY_HOUR = {
    TEN: kpis(
        orders=2, items=3, gmv_minor=7970, paying_users=2, ordering_users=2, orders_by_channel={MALL_APP: 1, H5: 1},
        ordering_users_by_city_tier={1: 1, 4: 1}, tier3_to_6_share=0.5, new_to_company_users=2, memberships_sold=1,
    ),
    ELEVEN: kpis(
        orders=1, items=1, gmv_minor=990, paying_users=1, ordering_users=1, orders_by_channel={MALL_APP: 1},
        ordering_users_by_city_tier={2: 1},
    ),
}  # fmt: skip


FRACTIONS = ("mini_program_share", "tier3_to_6_share", "mean_completion_seconds")


def as_dict(message: pb.Kpis) -> dict[str, object]:
    """A Kpis message as the dictionaries above spell it (channel and tier lists as mappings, fractions
    rounded to 9 places)."""
    found: dict[str, object] = {name: getattr(message, name) for name in kpis()}
    found["orders_by_channel"] = {entry.channel: entry.orders for entry in message.orders_by_channel}
    tiers = message.ordering_users_by_city_tier
    found["ordering_users_by_city_tier"] = {entry.city_tier: entry.users for entry in tiers}
    for name in FRACTIONS:
        found[name] = round(getattr(message, name), 9)
    return found


def rounded(expected: dict[str, object]) -> dict[str, object]:
    return {name: round(value, 9) if isinstance(value, float) else value for name, value in expected.items()}


def by_bucket(report: pb.KpiReport) -> dict[datetime, dict[str, object]]:
    return {bucket.start.ToDatetime(tzinfo=SHANGHAI): as_dict(bucket.kpis) for bucket in report.buckets}


def expected_buckets(expected: dict[datetime, dict[str, object]]) -> dict[datetime, dict[str, object]]:
    return {start: rounded(values) for start, values in expected.items()}
