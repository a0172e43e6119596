"""Profiles built from order, group and membership events, and new-to-company across linked accounts
(flow 5's answer). Events are published to Kafka as the other services will publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.groupbuy.v1 import events_pb2 as groupbuy_events
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.order.v1 import events_pb2 as order_events
from pingou.segmentation.v1 import segmentation_pb2 as pb
from prometheus_client import REGISTRY

from libs.auth import Role
from libs.core import BusinessLine
from tests.integration.segmentation.conftest import Segmentation
from tests.support.kafka import read_topic
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra

T0 = datetime(2026, 6, 18, 0, 0, tzinfo=UTC)


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


async def is_new(segmentation: Segmentation, user_id: str, line: BusinessLine) -> bool:
    reply = await segmentation.stub.IsNewToCompany(
        pb.IsNewToCompanyRequest(user_id=user_id), metadata=segmentation.token(line, Role.SERVICE)
    )
    return bool(reply.new_to_company)


async def order_count(segmentation: Segmentation, user_id: str) -> int:
    return int((await segmentation.get(user_id)).profile.order_count)


async def test_a_linked_pingou_account_of_a_mall_buyer_is_not_new_but_an_unlinked_newcomer_is(
    segmentation: Segmentation,
) -> None:
    number = phone()
    mall_buyer = await segmentation.register(BusinessLine.MALL, city="北京", channel=pb.CHANNEL_MALL_APP, phone=number)
    await segmentation.publish(
        BusinessLine.MALL,
        "order",
        [
            (
                "o-1",
                order_events.OrderPaid(
                    order_id="o-1",
                    user_id=mall_buyer.user_id,
                    amount_minor=9900,
                    currency="CNY",
                    item_count=1,
                    paid_at=at(T0),
                ),
                None,
            )
        ],
    )
    await eventually(lambda: order_count(segmentation, mall_buyer.user_id))

    # The same person opens a pingou account: same phone written differently, a different account id.
    linked = await segmentation.register(BusinessLine.PINGOU, city="菏泽", phone=f"+86 {number[:3]}-{number[3:]}")
    newcomer = await segmentation.register(BusinessLine.PINGOU, city="菏泽")
    assert linked.user_id != mall_buyer.user_id
    assert await is_new(segmentation, linked.user_id, BusinessLine.PINGOU) is False
    assert await is_new(segmentation, newcomer.user_id, BusinessLine.PINGOU) is True
    assert await is_new(segmentation, mall_buyer.user_id, BusinessLine.MALL) is False

    accounts = await segmentation.stub.GetLinkedAccounts(
        pb.GetLinkedAccountsRequest(user_id=linked.user_id),
        metadata=segmentation.token(BusinessLine.PINGOU, Role.ANALYTICS),
    )
    assert [(a.user_id, a.via) for a in accounts.accounts] == [(mall_buyer.user_id, pb.IDENTITY_KIND_PHONE)]


async def test_linking_to_an_account_without_orders_keeps_a_user_new(segmentation: Segmentation) -> None:
    unionid = f"oWx-{uuid.uuid4().hex[:20]}"
    await segmentation.register(BusinessLine.MALL, wechat_unionid=unionid)
    pingou = await segmentation.register(BusinessLine.PINGOU, wechat_unionid=unionid)
    assert await is_new(segmentation, pingou.user_id, BusinessLine.PINGOU) is True


async def test_a_linked_identity_added_later_changes_the_answer(segmentation: Segmentation) -> None:
    number = phone()
    mall_buyer = await segmentation.register(BusinessLine.MALL, phone=number)
    await segmentation.publish(
        BusinessLine.MALL,
        "order",
        [
            (
                "o-9",
                order_events.OrderPaid(order_id="o-9", user_id=mall_buyer.user_id, amount_minor=100, paid_at=at(T0)),
                None,
            )
        ],
    )
    await eventually(lambda: order_count(segmentation, mall_buyer.user_id))
    pingou = await segmentation.register(BusinessLine.PINGOU)
    assert await is_new(segmentation, pingou.user_id, BusinessLine.PINGOU) is True
    reply = await segmentation.stub.LinkIdentity(
        pb.LinkIdentityRequest(
            user_id=pingou.user_id, identity=pb.ExternalIdentity(kind=pb.IDENTITY_KIND_PHONE, value=number)
        ),
        metadata=segmentation.token(BusinessLine.PINGOU, Role.SERVICE),
    )
    assert reply.linked_accounts == 1
    assert await is_new(segmentation, pingou.user_id, BusinessLine.PINGOU) is False


async def test_profiles_are_right_after_a_replayed_stream_of_duplicated_events(segmentation: Segmentation) -> None:
    buyer = await segmentation.register(BusinessLine.PINGOU, city="临沂")
    uid = buyer.user_id
    orders: list[tuple[str, Message, uuid.UUID | None]] = [
        (
            f"o-{n}",
            order_events.OrderPaid(
                order_id=f"o-{n}", user_id=uid, amount_minor=1000 * (n + 1), paid_at=at(T0 + timedelta(hours=n))
            ),
            uuid.uuid4(),
        )
        for n in range(3)
    ]
    refund: list[tuple[str, Message, uuid.UUID | None]] = [
        (
            "o-2",
            order_events.OrderRefunded(
                order_id="o-2", user_id=uid, amount_minor=3000, refunded_at=at(T0 + timedelta(days=1))
            ),
            uuid.uuid4(),
        )
    ]
    seat: list[tuple[str, Message, uuid.UUID | None]] = [
        ("g-1", groupbuy_events.SeatHeld(group_id="g-1", user_id=uid, held_at=at(T0 + timedelta(days=2))), uuid.uuid4())
    ]
    plus: list[tuple[str, Message, uuid.UUID | None]] = [
        (
            uid,
            membership_events.MembershipPurchased(
                user_id=uid, plan=membership_events.PLAN_TRIAL, starts_at=at(T0), expires_at=at(T0 + timedelta(days=7))
            ),
            uuid.uuid4(),
        ),
        (
            uid,
            membership_events.MembershipRenewed(
                user_id=uid, plan=membership_events.PLAN_ANNUAL, expires_at=at(T0 + timedelta(days=372))
            ),
            uuid.uuid4(),
        ),
        (uid, membership_events.MembershipExpired(user_id=uid, expired_at=at(T0 + timedelta(days=7))), uuid.uuid4()),
    ]
    # Each stream is published twice, as a producer retry or an offset reset would deliver it again.
    for _ in range(2):
        await segmentation.publish(BusinessLine.PINGOU, "order", orders + refund)
        await segmentation.publish(BusinessLine.PINGOU, "groupbuy", seat)
        await segmentation.publish(BusinessLine.PINGOU, "membership", plus)
    unique = len(orders + refund + seat + plus)
    group = f"{segmentation.topic_prefix}segmentation-profiles-pingou"

    async def every_copy_consumed() -> bool:
        duplicates = REGISTRY.get_sample_value("consumer_events_total", {"group": group, "outcome": "duplicate"})
        claims = await segmentation.count(
            "SELECT count(*) FROM segmentation_pingou.inbox WHERE event_id = ANY($1::uuid[])",
            [event_id for _, _, event_id in orders + refund + seat + plus],
        )
        return claims == unique and (duplicates or 0) >= unique

    await eventually(every_copy_consumed)
    profile = (await segmentation.get(uid)).profile
    assert profile.order_count == 3
    assert profile.spend_minor == 1000 + 2000 + 3000 - 3000
    assert profile.first_order_at.ToDatetime(tzinfo=UTC) == T0
    assert profile.last_active_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=2)
    assert profile.plus_until.ToDatetime(tzinfo=UTC) == T0 + timedelta(days=372)
    assert profile.plus_member is (T0 + timedelta(days=372) > datetime.now(UTC))


async def test_an_event_for_an_unknown_user_is_dead_lettered_not_applied(segmentation: Segmentation) -> None:
    ghost = "pu_999999999"
    await segmentation.publish(
        BusinessLine.PINGOU,
        "order",
        [("o-x", order_events.OrderPaid(order_id="o-x", user_id=ghost, amount_minor=1, paid_at=at(T0)), None)],
    )
    dead = await read_topic(
        segmentation.kafka,
        f"{segmentation.topic_prefix}pingou.order.v1.dlq",
        until=lambda got: len(got) >= 1,
        timeout=60,
    )
    assert ghost.encode() in dict(dead[0].headers)["dlq.error"]
