"""Flow 2 (a group opened, joined by invite and auto-matched, all paid, completes once and its orders move on)
and flow 5 (a new-user-only group refuses a mall buyer linked by identity) end to end, and what buyers see
along the way (invites, auto-match, listings)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from pingou.groupbuy.v1 import events_pb2 as events
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2 as order_pb
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.core import BusinessLine
from libs.grpckit.errors import reason_of
from tests.integration.groupbuy.conftest import SCHEMA, Platform
from tests.support.waiting import eventually

pytestmark = pytest.mark.infra


async def test_flow_2_open_invite_auto_match_all_paid_completes_once_and_orders_move_on(platform: Platform) -> None:
    sku = await platform.listing(size=3, stock=10)
    # Three buyers from three city tiers and channels; c also has a mall account (same phone) that has
    # bought before, so c is not new to the company while a and b are.
    phone = "13800004321"
    mall_buyer = await platform.register(BusinessLine.MALL, phone=phone, channel=seg_pb.CHANNEL_MALL_APP)
    mall_sku = await platform.shop.new_sku(BusinessLine.MALL, stock=5)
    mall_order = await platform.shop.place_mall(mall_buyer, [(mall_sku, 1)])
    await platform.shop.pay(mall_order)
    a = await platform.register(city="临沂", channel=seg_pb.CHANNEL_WECHAT_MINI_PROGRAM)  # tier 2
    b = await platform.register(city="玉溪", channel=seg_pb.CHANNEL_PINGOU_APP)  # tier 5
    c = await platform.register(city="无名镇", channel=seg_pb.CHANNEL_H5, phone=phone)  # not in the table: 6

    async def new_to_company(user_id: str) -> bool:
        reply = await platform.shop.segmentation.IsNewToCompany(
            seg_pb.IsNewToCompanyRequest(user_id=user_id), metadata=platform.shop.service(BusinessLine.PINGOU)
        )
        return bool(reply.new_to_company)

    async def c_known_to_have_ordered() -> bool:
        return not await new_to_company(c)

    await eventually(c_known_to_have_ordered)
    assert [await new_to_company(user) for user in (a, b)] == [True, True]

    opened = await platform.open(a, sku)
    assert opened.seat.leader
    assert opened.group.seats_taken == 1
    await platform.pay(opened)
    joined = await platform.join(b, invite_code=opened.group.share_code)
    assert joined.seat.inviter_user_id == a
    await platform.pay(joined)
    matched = await platform.auto_match(c, sku)
    assert matched.group.group_id == opened.group.group_id  # the open group nearest to completion
    await platform.pay(matched)

    group_id = opened.group.group_id

    async def completed() -> bool:
        return await platform.group_state(group_id) == pb.GROUP_STATE_COMPLETED

    await eventually(completed)
    group = await platform.get_group(group_id)
    assert (group.seats_paid, len(group.seats)) == (3, 3)
    assert {seat.user_id for seat in group.seats} == {a, b, c}

    async def orders_moved_on() -> bool:
        states = [await platform.shop.state_of(r.order.order_id) for r in (opened, joined, matched)]
        return all(state == order_pb.ORDER_STATE_GROUP_COMPLETED for state in states)

    await eventually(orders_moved_on)
    names = await platform.event_names(group_id)
    assert names.count("GroupCompleted") == 1
    assert (names.count("SeatHeld"), names.count("SeatPaid"), names.count("GroupFailed")) == (3, 3, 0)
    held = [e for e in await platform.events_of(group_id) if isinstance(e, events.SeatHeld)]
    assert {e.user_id: e.inviter_user_id for e in held} == {a: "", b: a, c: ""}
    (done,) = [e for e in await platform.events_of(group_id) if isinstance(e, events.GroupCompleted)]
    assert sorted(done.order_ids) == sorted(r.order.order_id for r in (opened, joined, matched))

    # Segmentation built the three buyers' profiles from the same events (analytics reads those too).
    async def profiles() -> list[seg_pb.User]:
        return [
            await platform.shop.segmentation.GetUser(
                seg_pb.GetUserRequest(user_id=user_id), metadata=platform.shop.service(BusinessLine.PINGOU)
            )
            for user_id in (a, b, c)
        ]

    async def profiled() -> bool:
        return all(
            user.profile.order_count == 1 and user.profile.HasField("first_order_at") for user in await profiles()
        )

    await eventually(profiled)
    seen = [(user.city_tier, user.city_known, user.channel) for user in await profiles()]
    assert seen == [
        (2, True, seg_pb.CHANNEL_WECHAT_MINI_PROGRAM),
        (5, True, seg_pb.CHANNEL_PINGOU_APP),
        (6, False, seg_pb.CHANNEL_H5),
    ]
    # Having bought, nobody of the three is new to the company any more.
    assert [await new_to_company(user) for user in (a, b, c)] == [False, False, False]


async def test_flow_5_new_user_group_refuses_an_existing_mall_buyer_linked_by_identity(platform: Platform) -> None:
    sku = await platform.listing(size=2, new_user_only=True)
    mall_sku = await platform.shop.new_sku(BusinessLine.MALL, stock=5)
    phone = "13900001234"
    mall_buyer = await platform.register(BusinessLine.MALL, phone=phone)
    order = await platform.shop.place_mall(mall_buyer, [(mall_sku, 1)])
    await platform.shop.pay(order)
    pingou_account = await platform.register(phone=phone)
    newcomer = await platform.register()

    async def mall_order_known() -> bool:
        reply = await platform.shop.segmentation.IsNewToCompany(
            seg_pb.IsNewToCompanyRequest(user_id=pingou_account), metadata=platform.shop.service(BusinessLine.PINGOU)
        )
        return not reply.new_to_company

    await eventually(mall_order_known)
    before = await platform.row_counts()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.open(pingou_account, sku)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(refused.value) == "NEW_USERS_ONLY"
    assert "new to the company" in (refused.value.details() or "")
    assert await platform.row_counts() == before

    opened = await platform.open(newcomer, sku)  # a person new to the company is welcome
    with pytest.raises(grpc.aio.AioRpcError) as refused_join:
        await platform.join(pingou_account, group_id=opened.group.group_id)
    assert reason_of(refused_join.value) == "NEW_USERS_ONLY"


async def test_a_completed_group_of_one_persons_accounts_is_flagged_once(platform: Platform) -> None:
    sku = await platform.listing(size=2, stock=10)
    phone, unionid = "13700007777", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    # One person: a mall account with both identities, and two pingou accounts, one with each.
    await platform.register(BusinessLine.MALL, phone=phone, unionid=unionid)
    leader = await platform.register(phone=phone)
    second_account = await platform.register(unionid=unionid)
    honest = [await platform.register(), await platform.register()]

    suspicious = await platform.open(leader, sku)
    joined = await platform.join(second_account, invite_code=suspicious.group.share_code)
    fair = await platform.open(honest[0], sku)
    fair_join = await platform.join(honest[1], group_id=fair.group.group_id)
    for result in (suspicious, joined, fair, fair_join):
        await platform.pay(result)

    async def flagged() -> bool:
        return (await platform.get_group(suspicious.group.group_id)).flagged

    await eventually(flagged)

    async def both_checked() -> bool:
        rows = await platform.fetch(
            "SELECT count(*) FROM groupbuy_pingou.groups WHERE identity_checked AND group_id = ANY($1::uuid[])",
            [uuid.UUID(r.group.group_id) for r in (suspicious, fair)],
        )
        return int(rows[0][0]) == 2

    await eventually(both_checked)
    assert not (await platform.get_group(fair.group.group_id)).flagged
    flags = [e for e in await platform.events_of(suspicious.group.group_id) if isinstance(e, events.GroupFlagged)]
    assert [sorted(e.user_ids) for e in flags] == [sorted([leader, second_account])]


async def test_a_free_leader_seat_is_paid_at_once_and_the_members_pay_the_group_price(platform: Platform) -> None:
    sku = await platform.listing(size=2, leader_free=True, group_price=1590)
    leader, member = await platform.register(), await platform.register()
    opened = await platform.open(leader, sku)
    assert (opened.order.total_minor, opened.group.leader_price_minor) == (0, 0)

    async def leader_paid() -> bool:
        return (await platform.get_group(opened.group.group_id)).seats_paid == 1

    await eventually(leader_paid)  # 团长免单: the order service placed it paid
    joined = await platform.join(member, group_id=opened.group.group_id)
    assert joined.order.total_minor == 1590
    await platform.pay(joined)

    async def completed() -> bool:
        return await platform.group_state(opened.group.group_id) == pb.GROUP_STATE_COMPLETED

    await eventually(completed)


async def test_buyers_see_only_their_own_invite_code_and_order_and_strangers_no_share_code(
    platform: Platform,
) -> None:
    sku = await platform.listing(size=3, stock=10)
    leader, member, stranger = [await platform.register() for _ in range(3)]
    opened = await platform.open(leader, sku)
    joined = await platform.join(member, invite_code=opened.group.share_code)
    group_id = opened.group.group_id

    async def orders_known() -> bool:
        return all(seat.order_id for seat in (await platform.get_group(group_id)).seats)

    await eventually(orders_known)
    full = await platform.get_group(group_id)  # a service sees everything
    assert {seat.invite_code for seat in full.seats} == {opened.seat.invite_code, joined.seat.invite_code}

    as_member: pb.Group = await platform.groupbuy.GetGroup(
        pb.GetGroupRequest(group_id=group_id), metadata=platform.as_user(member)
    )
    (own,) = [seat for seat in as_member.seats if seat.user_id == member]
    (other,) = [seat for seat in as_member.seats if seat.seat_id != own.seat_id]
    assert (own.invite_code, own.order_id, own.inviter_user_id) == (
        joined.seat.invite_code,
        joined.order.order_id,
        leader,
    )
    assert (other.user_id, other.invite_code, other.order_id, other.leader) == ("", "", "", True)
    assert as_member.share_code == opened.group.share_code  # a member may share the group

    as_stranger: pb.Group = await platform.groupbuy.GetGroup(
        pb.GetGroupRequest(group_id=group_id), metadata=platform.as_user(stranger)
    )
    assert (as_stranger.share_code, as_stranger.leader_user_id) == ("", "")
    assert len(as_stranger.seats) == 2
    assert all((s.user_id, s.invite_code, s.order_id, s.inviter_user_id) == ("", "", "", "") for s in as_stranger.seats)
    listed = await platform.groupbuy.ListOpenGroups(
        pb.ListOpenGroupsRequest(sku_id=sku), metadata=platform.as_user(stranger)
    )
    assert [(g.group_id, g.share_code, g.leader_user_id) for g in listed.groups] == [(group_id, "", "")]
    # What the stranger needs to join is there: the group's id.
    await platform.join(stranger, group_id=listed.groups[0].group_id)


async def test_a_buyer_the_registry_does_not_know_holds_no_seat(platform: Platform) -> None:
    sku = await platform.listing(size=2)
    before = await platform.row_counts()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await platform.open(f"pu_{uuid.uuid4().int % 10**12}", sku)
    assert (refused.value.code(), reason_of(refused.value)) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    assert await platform.row_counts() == before


async def test_registrations_reach_groupbuy_as_events(platform: Platform) -> None:
    buyer = await platform.register()

    async def recorded() -> bool:
        sql = f"SELECT count(*) FROM {SCHEMA}.registered_accounts WHERE account_id = $1"  # noqa: S608
        return await platform.count(sql, buyer) == 1

    await eventually(recorded)
