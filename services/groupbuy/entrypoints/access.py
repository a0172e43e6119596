"""Who may call each groupbuy RPC (libs.grpckit.access): the rules the interceptor enforces before the
servicer runs. A buyer takes seats and lists groups for themself; services and operators act for buyers;
anyone of the line reads open groups (a buyer sees less of them, `mapping.seen_by_buyer`)."""

from __future__ import annotations

from collections.abc import Mapping

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit.access import ANY_ROLE, Access, only, user_line_of
from services.groupbuy.entrypoints.validation import SERVICE

ACTING_FOR_BUYERS = frozenset({Role.SERVICE, Role.OPERATOR})
READERS_OF_USERS = frozenset({Role.SERVICE, Role.OPERATOR, Role.ANALYTICS})
TAKE_SEAT = Access(roles=ACTING_FOR_BUYERS, self_field="buyer.user_id", line=user_line_of("buyer.user_id"))
READ_GROUPS = Access(roles=ANY_ROLE, line=only(BusinessLine.PINGOU))

ACCESS: Mapping[str, Access] = {
    f"/{SERVICE}/OpenGroup": TAKE_SEAT,
    f"/{SERVICE}/JoinGroup": TAKE_SEAT,
    f"/{SERVICE}/AutoMatch": TAKE_SEAT,
    f"/{SERVICE}/ListOpenGroups": READ_GROUPS,
    f"/{SERVICE}/GetGroup": READ_GROUPS,
    f"/{SERVICE}/ListUserGroups": Access(roles=READERS_OF_USERS, self_field="user_id", line=user_line_of("user_id")),
}
