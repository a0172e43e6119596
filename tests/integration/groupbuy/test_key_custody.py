"""Key custody, against all five services: a key signs only what the key set lets it, so no service can
speak for another (confirm payments as `payments`) or for a person (an operator or a user), and a key
the platform does not know is refused everywhere."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from pingou.catalog.v1 import catalog_pb2 as catalog_pb
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.membership.v1 import membership_pb2 as membership_pb
from pingou.order.v1 import order_pb2 as order_pb
from pingou.segmentation.v1 import segmentation_pb2 as seg_pb

from libs.auth import Role, TokenIssuer, generate_key_pair
from libs.auth.local import LocalKeys
from libs.convert import LINE_TO_PROTO
from libs.core import BusinessLine
from libs.grpckit import service_token_metadata
from libs.grpckit.errors import reason_of
from tests.integration.groupbuy.conftest import Platform

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
Read = Callable[[Platform, list[tuple[str, str]], str], Awaitable[object]]

# One read of each service that an operator may make, naming the user `user_id`.
READS: dict[str, Read] = {
    "catalog": lambda p, md, user: p.shop.catalog.SearchListings(
        catalog_pb.SearchListingsRequest(line=LINE_TO_PROTO[PINGOU], query="拼"), metadata=md
    ),
    "segmentation": lambda p, md, user: p.shop.segmentation.GetUser(seg_pb.GetUserRequest(user_id=user), metadata=md),
    "membership": lambda p, md, user: p.shop.membership.IsMember(
        membership_pb.IsMemberRequest(user_id=user), metadata=md
    ),
    "order": lambda p, md, user: p.shop.orders.ListUserOrders(
        order_pb.ListUserOrdersRequest(user_id=user), metadata=md
    ),
    "groupbuy": lambda p, md, user: p.groupbuy.ListUserGroups(pb.ListUserGroupsRequest(user_id=user), metadata=md),
}
SIGNERS = ("catalog", "groupbuy", "segmentation", "membership", "order", "payments", "accounts")


def signed_by(path: Path, *, subject: str, line: BusinessLine, roles: tuple[Role, ...]) -> list[tuple[str, str]]:
    return service_token_metadata(TokenIssuer.from_file(path).mint(subject=subject, line=line, roles=roles))


async def refused(call: Awaitable[object]) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), reason_of(caught.value)


async def test_a_token_signed_by_groupbuys_key_as_payments_cannot_confirm_a_payment(
    platform: Platform, keys: LocalKeys
) -> None:
    sku = await platform.shop.new_sku(MALL, stock=5)
    buyer = await platform.shop.register(MALL)
    order = await platform.shop.place_mall(buyer, [(sku, 1)])
    payment = platform.shop.payment(order)

    forged = signed_by(keys.service_key_file("groupbuy"), subject="payments", line=MALL, roles=(Role.SERVICE,))
    assert await refused(platform.shop.orders.ConfirmPayment(payment, metadata=forged)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "KEY_NOT_ALLOWED",
    )
    as_itself = signed_by(keys.service_key_file("groupbuy"), subject="groupbuy", line=MALL, roles=(Role.SERVICE,))
    assert await refused(platform.shop.orders.ConfirmPayment(payment, metadata=as_itself)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CALLER_NOT_ALLOWED",
    )
    assert await platform.shop.state_of(order.order_id) == order_pb.ORDER_STATE_PENDING_PAYMENT
    assert (await platform.shop.pay(order)).state == order_pb.ORDER_STATE_PAID  # the provider's own key


@pytest.mark.parametrize("service", sorted(READS))
async def test_no_service_key_mints_a_person_token_that_a_service_accepts(
    platform: Platform, keys: LocalKeys, service: str
) -> None:
    user = await platform.register()
    operator = platform.shop.token(PINGOU, Role.OPERATOR, subject="ops")
    await READS[service](platform, operator, user)  # the issuer's operator token is welcome
    for signer in SIGNERS:
        key = keys.service_key_file(signer)
        for subject, roles in (("ops", (Role.OPERATOR,)), (user, (Role.USER,)), (signer, (Role.ANALYTICS,))):
            forged = signed_by(key, subject=subject, line=PINGOU, roles=roles)
            outcome = await refused(READS[service](platform, forged, user))
            assert outcome == (grpc.StatusCode.UNAUTHENTICATED, "KEY_NOT_ALLOWED"), (signer, roles)


@pytest.mark.parametrize("service", sorted(READS))
async def test_a_key_the_platform_does_not_know_is_refused(platform: Platform, tmp_path: Path, service: str) -> None:
    user = await platform.register()
    generate_key_pair(tmp_path / "stranger.key", tmp_path / "stranger.pub")
    for roles in ((Role.OPERATOR,), (Role.SERVICE,)):
        forged = signed_by(tmp_path / "stranger.key", subject="order", line=PINGOU, roles=roles)
        assert await refused(READS[service](platform, forged, user)) == (grpc.StatusCode.UNAUTHENTICATED, "KEY_UNKNOWN")


async def test_only_the_named_services_move_stock_sell_plus_or_register_people(platform: Platform) -> None:
    sku = await platform.shop.new_sku(MALL, stock=5)
    buyer = await platform.shop.register(MALL)
    order = await platform.shop.place_mall(buyer, [(sku, 1)])
    assert await platform.shop.stock(MALL, sku) == (4, 1)
    groupbuy = platform.shop.token(MALL, Role.SERVICE, subject="groupbuy")
    reservation = catalog_pb.ReservationRequest(line=LINE_TO_PROTO[MALL], order_id=order.order_id)
    for call in (platform.shop.catalog.ReleaseReservation, platform.shop.catalog.CommitReservation):
        assert await refused(call(reservation, metadata=groupbuy)) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "CALLER_NOT_ALLOWED",
        )
    assert await platform.shop.stock(MALL, sku) == (4, 1)  # the live order's unit is still held for it

    purchase = membership_pb.PurchaseRequest(
        user_id=buyer,
        plan=membership_events.PLAN_TRIAL,
        payment_reference=f"trial-{uuid.uuid4().hex}",
        amount_paid_minor=0,
        currency="CNY",
    )
    order_key = platform.shop.token(MALL, Role.SERVICE, subject="order")
    assert await refused(platform.shop.membership.Purchase(purchase, metadata=order_key)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CALLER_NOT_ALLOWED",
    )
    registration = seg_pb.RegisterUserRequest(city="临沂", channel=seg_pb.CHANNEL_WECHAT_MINI_PROGRAM)
    assert await refused(platform.shop.segmentation.RegisterUser(registration, metadata=order_key)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "CALLER_NOT_ALLOWED",
    )
