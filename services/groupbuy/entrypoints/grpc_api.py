"""The gRPC adapter: request validation, authorization, proto <-> domain. Use cases do the work."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import grpc
from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.groupbuy.v1 import groupbuy_pb2_grpc as pb_grpc
from pingou.order.v1 import order_pb2

from libs.auth import Role, authorize_user_access, current_principal, require_line
from libs.convert import optional_timestamp, timestamp
from libs.core import BusinessLine
from libs.core.orders import CURRENCY, payment_intent_id
from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.groupbuy.domain.model import (
    INVITE_ALPHABET,
    INVITE_CODE_LENGTH,
    Buyer,
    Group,
    GroupState,
    Seat,
    SeatState,
)
from services.groupbuy.domain.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    OpenGroupsPage,
    UserGroupsPage,
    decode_open_groups,
    decode_user_groups,
    encode_open_groups,
    encode_user_groups,
)
from services.groupbuy.service_layer import queries, seats
from services.groupbuy.service_layer.context import Context
from services.groupbuy.service_layer.seats import SeatTaken

SERVICE = pb.DESCRIPTOR.services_by_name["GroupbuyService"].full_name
SKU_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # catalog's SKU ids
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
INVITE_CODE = re.compile(rf"^[{INVITE_ALPHABET}]{{{INVITE_CODE_LENGTH}}}$")
MAX_CITY_LENGTH = 40
MAX_PAGE_TOKEN_LENGTH = 512
CHANNELS = {value for value in order_pb2.Channel.values() if value != order_pb2.CHANNEL_UNSPECIFIED}

ACTING_FOR_BUYERS = (Role.SERVICE, Role.OPERATOR)
READERS_OF_USERS = (Role.SERVICE, Role.OPERATOR, Role.ANALYTICS)

GROUP_STATE_TO_PROTO = {
    GroupState.OPEN: pb.GROUP_STATE_OPEN,
    GroupState.COMPLETED: pb.GROUP_STATE_COMPLETED,
    GroupState.FAILED: pb.GROUP_STATE_FAILED,
}
SEAT_STATE_TO_PROTO = {
    SeatState.HELD: pb.SEAT_STATE_HELD,
    SeatState.PAID: pb.SEAT_STATE_PAID,
    SeatState.RELEASED: pb.SEAT_STATE_RELEASED,
}


# --- validation at the edge (shape only; existence, eligibility and permissions come later)


def _buyer(problems: Violations, buyer: pb.Buyer) -> None:
    problems.user_id("buyer.user_id", buyer.user_id)
    problems.text("buyer.shipping_city", buyer.shipping_city.strip(), max_length=MAX_CITY_LENGTH)
    problems.enum("buyer.channel", buyer.channel, allowed=CHANNELS)
    if not IDEMPOTENCY_KEY.match(buyer.idempotency_key):
        problems.add(
            "buyer.idempotency_key",
            "is required" if not buyer.idempotency_key else "must be 1 to 64 letters, digits or _ . : -",
        )


def _sku(problems: Violations, value: str) -> None:
    if not SKU_ID.match(value):
        problems.add("sku_id", "is required" if not value else "is not a SKU id (lower-case letters, digits, '-')")


def _page(problems: Violations, page_size: int, page_token: str) -> None:
    problems.number("page_size", page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", page_token, min_length=0, max_length=MAX_PAGE_TOKEN_LENGTH)


def validate_open(request: pb.OpenGroupRequest) -> None:
    problems = Violations()
    _buyer(problems, request.buyer)
    _sku(problems, request.sku_id)
    problems.raise_if_any()


def validate_auto_match(request: pb.AutoMatchRequest) -> None:
    problems = Violations()
    _buyer(problems, request.buyer)
    _sku(problems, request.sku_id)
    problems.raise_if_any()


def validate_join(request: pb.JoinGroupRequest) -> None:
    problems = Violations()
    _buyer(problems, request.buyer)
    target = request.WhichOneof("target")
    if target == "group_id":
        problems.identifier("group_id", request.group_id)
    elif target == "invite_code":
        if not INVITE_CODE.match(request.invite_code):
            problems.add("invite_code", f"is not an invite code ({INVITE_CODE_LENGTH} letters and digits)")
    else:
        problems.add("target", "name the group: group_id or invite_code")
    problems.raise_if_any()


def validate_list_open(request: pb.ListOpenGroupsRequest) -> None:
    problems = Violations()
    _sku(problems, request.sku_id)
    _page(problems, request.page_size, request.page_token)
    problems.raise_if_any()


def validate_get(request: pb.GetGroupRequest) -> None:
    problems = Violations()
    problems.identifier("group_id", request.group_id)
    problems.raise_if_any()


def validate_list_user(request: pb.ListUserGroupsRequest) -> None:
    problems = Violations()
    problems.user_id("user_id", request.user_id)
    _page(problems, request.page_size, request.page_token)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/OpenGroup": validate_open,
    f"/{SERVICE}/JoinGroup": validate_join,
    f"/{SERVICE}/AutoMatch": validate_auto_match,
    f"/{SERVICE}/ListOpenGroups": validate_list_open,
    f"/{SERVICE}/GetGroup": validate_get,
    f"/{SERVICE}/ListUserGroups": validate_list_user,
}


# --- proto <-> domain


def buyer_from_proto(buyer: pb.Buyer) -> Buyer:
    return Buyer(
        user_id=buyer.user_id,
        shipping_city=buyer.shipping_city.strip(),
        channel=buyer.channel,
        request_key=buyer.idempotency_key,
    )


def seat_to_proto(seat: Seat) -> pb.Seat:
    return pb.Seat(
        seat_id=seat.seat_id,
        user_id=seat.user_id,
        leader=seat.leader,
        state=SEAT_STATE_TO_PROTO[seat.state],
        invite_code=seat.invite_code,
        inviter_user_id=seat.inviter_user_id or "",
        order_id=seat.order_id or "",
        held_at=timestamp(seat.held_at),
        pay_by=timestamp(seat.pay_by),
        paid_at=optional_timestamp(seat.paid_at),
    )


def group_to_proto(group: Group, members: Sequence[Seat] = ()) -> pb.Group:
    return pb.Group(
        group_id=group.group_id,
        sku_id=group.sku_id,
        leader_user_id=group.leader_user_id,
        state=GROUP_STATE_TO_PROTO[group.state],
        size=group.size,
        seats_taken=group.seats_taken,
        seats_paid=group.seats_paid,
        group_price_minor=group.group_price_minor,
        leader_price_minor=group.leader_price_minor,
        new_user_only=group.new_user_only,
        plus_only=group.plus_only,
        strangers_can_join=group.strangers_can_join,
        share_code=group.share_code,
        opened_at=timestamp(group.opened_at),
        expires_at=timestamp(group.expires_at),
        closed_at=optional_timestamp(group.closed_at),
        flagged=group.flagged,
        seats=[seat_to_proto(seat) for seat in members],
    )


def seen_by_buyer(group: pb.Group, viewer: str) -> pb.Group:
    """What a buyer (`user` role) may see of a group: their own seat in full; of the others only their
    state, leader flag and times (no user ids, invite codes or order ids); the share code and the leader's
    id only if they are a member. Strangers still see all they need to join (by group id)."""
    member = any(seat.user_id == viewer and seat.state != pb.SEAT_STATE_RELEASED for seat in group.seats)
    if not member:
        group.share_code = ""
        group.leader_user_id = ""
    for seat in group.seats:
        if seat.user_id != viewer:
            for name in ("user_id", "invite_code", "inviter_user_id", "order_id"):
                seat.ClearField(name)
    return group


def seat_order_to_proto(group: Group, seat: Seat) -> order_pb2.Order:
    """The seat's order as the order service places it from SeatHeld: what the buyer pays, by when, and
    the payment intent to pay it through. A free leader's order (团长免单) is paid on the spot."""
    assert seat.order_id is not None
    free = seat.leader and seat.unit_price_minor == 0
    return order_pb2.Order(
        order_id=seat.order_id,
        user_id=seat.user_id,
        kind=order_pb2.ORDER_KIND_GROUP,
        state=order_pb2.ORDER_STATE_AWAITING_GROUP if free else order_pb2.ORDER_STATE_PENDING_PAYMENT,
        items=[
            order_pb2.OrderItem(
                sku_id=group.sku_id,
                quantity=1,
                unit_price_minor=seat.unit_price_minor,
                list_price_minor=seat.unit_price_minor,
            )
        ],
        total_minor=seat.unit_price_minor,
        currency=CURRENCY,
        channel=seat.channel,  # type: ignore[arg-type]  # validated at the edge: a Channel value
        shipping_city=seat.shipping_city,
        group_id=group.group_id,
        seat_id=seat.seat_id,
        group_leader=seat.leader,
        payment=order_pb2.PaymentIntent(
            intent_id=payment_intent_id(seat.order_id),
            amount_minor=seat.unit_price_minor,
            currency=CURRENCY,
            expires_at=timestamp(seat.pay_by),
        ),
        created_at=timestamp(seat.held_at),
        updated_at=timestamp(seat.held_at),
        paid_at=timestamp(seat.held_at) if free else None,
    )


def result_to_proto(taken: SeatTaken) -> pb.SeatResult:
    return pb.SeatResult(
        group=group_to_proto(taken.group),
        seat=seat_to_proto(taken.seat),
        order=seat_order_to_proto(taken.group, taken.seat),
    )


# --- the servicer


class GroupbuyServicer(pb_grpc.GroupbuyServiceServicer):
    def __init__(self, context: Context):
        self._context = context

    def _buyer(self, buyer: pb.Buyer) -> Buyer:
        authorize_user_access(current_principal(), buyer.user_id, roles=ACTING_FOR_BUYERS, allow_self=True)
        return buyer_from_proto(buyer)

    async def OpenGroup(self, request: pb.OpenGroupRequest, context: grpc.aio.ServicerContext) -> pb.SeatResult:
        buyer = self._buyer(request.buyer)
        return result_to_proto(await seats.open_group(self._context, buyer, request.sku_id))

    async def JoinGroup(self, request: pb.JoinGroupRequest, context: grpc.aio.ServicerContext) -> pb.SeatResult:
        buyer = self._buyer(request.buyer)
        if request.WhichOneof("target") == "invite_code":
            taken = await seats.join_group(self._context, buyer, invite_code=request.invite_code)
        else:
            taken = await seats.join_group(self._context, buyer, group_id=request.group_id)
        return result_to_proto(taken)

    async def AutoMatch(self, request: pb.AutoMatchRequest, context: grpc.aio.ServicerContext) -> pb.SeatResult:
        buyer = self._buyer(request.buyer)
        return result_to_proto(await seats.auto_match(self._context, buyer, request.sku_id))

    async def ListOpenGroups(
        self, request: pb.ListOpenGroupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGroupsResponse:
        require_line(current_principal(), BusinessLine.PINGOU)
        after = decode_open_groups(request.page_token, sku_id=request.sku_id) if request.page_token else None
        size = request.page_size or DEFAULT_PAGE_SIZE
        found = await queries.open_groups(self._context, sku_id=request.sku_id, after=after, limit=size + 1)
        token = ""
        if len(found) > size:
            found, last = found[:size], found[size - 1]
            token = encode_open_groups(
                OpenGroupsPage(last.seats_taken, last.expires_at, last.group_id), sku_id=request.sku_id
            )
        viewer = current_principal()
        groups = [group_to_proto(group) for group in found]
        if not viewer.has_role(*READERS_OF_USERS):
            groups = [seen_by_buyer(group, viewer.subject) for group in groups]
        return pb.ListGroupsResponse(groups=groups, next_page_token=token)

    async def GetGroup(self, request: pb.GetGroupRequest, context: grpc.aio.ServicerContext) -> pb.Group:
        viewer = current_principal()
        require_line(viewer, BusinessLine.PINGOU)
        group, members = await queries.group_with_seats(self._context, request.group_id)
        full = group_to_proto(group, members)
        return full if viewer.has_role(*READERS_OF_USERS) else seen_by_buyer(full, viewer.subject)

    async def ListUserGroups(
        self, request: pb.ListUserGroupsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListGroupsResponse:
        authorize_user_access(current_principal(), request.user_id, roles=READERS_OF_USERS, allow_self=True)
        after = decode_user_groups(request.page_token, user_id=request.user_id) if request.page_token else None
        size = request.page_size or DEFAULT_PAGE_SIZE
        found = await queries.user_groups(self._context, user_id=request.user_id, after=after, limit=size + 1)
        token = ""
        if len(found) > size:
            found = found[:size]
            last_seat = found[-1][0]
            token = encode_user_groups(UserGroupsPage(last_seat.held_at, last_seat.seat_id), user_id=request.user_id)
        return pb.ListGroupsResponse(
            groups=[group_to_proto(group, [seat]) for seat, group in found], next_page_token=token
        )
