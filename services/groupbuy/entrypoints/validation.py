"""Request validation at groupbuy's edge: shape only (ids, keys, codes, page sizes). Existence,
eligibility and permissions are decided behind it. Every request has passed libs.grpckit.wellformed first
(no control characters, no text over its generic cap, no unknown enum value)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pingou.groupbuy.v1 import groupbuy_pb2 as pb
from pingou.order.v1 import order_pb2

from libs.grpckit import Violations
from libs.grpckit.validation import Validator
from services.groupbuy.domain.model import INVITE_ALPHABET, INVITE_CODE_LENGTH
from services.groupbuy.domain.paging import MAX_PAGE_SIZE

SERVICE = pb.DESCRIPTOR.services_by_name["GroupbuyService"].full_name
SKU_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # catalog's SKU ids
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
INVITE_CODE = re.compile(rf"^[{INVITE_ALPHABET}]{{{INVITE_CODE_LENGTH}}}$")
MAX_CITY_LENGTH = 40
MAX_PAGE_TOKEN_LENGTH = 512
CHANNELS = {value for value in order_pb2.Channel.values() if value != order_pb2.CHANNEL_UNSPECIFIED}


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
