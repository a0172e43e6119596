"""Who may call each membership RPC (libs.grpckit.access): the rules the interceptor enforces before the
servicer runs. Every RPC names a user, whose line must be the caller's. PLUS is sold by the payment backend
(services named in PURCHASE_CALLERS) or an operator; a member reads and manages their own membership and
coupons."""

from __future__ import annotations

from collections.abc import Mapping

from libs.auth import Role
from libs.grpckit.access import Access, user_line_of
from services.membership.entrypoints.validation import SERVICE

BUYERS = frozenset({Role.SERVICE, Role.OPERATOR})  # the payment backend, or an operator fixing an order
READERS = frozenset({Role.SERVICE, Role.OPERATOR, Role.ANALYTICS})
USER_LINE = user_line_of("user_id")
SELL = Access(roles=BUYERS, line=USER_LINE, callers="purchase_callers")
MEMBERS_OWN = Access(roles=BUYERS, self_field="user_id", line=USER_LINE)

ACCESS: Mapping[str, Access] = {
    f"/{SERVICE}/Purchase": SELL,
    f"/{SERVICE}/Renew": SELL,
    f"/{SERVICE}/CancelAutoRenew": MEMBERS_OWN,
    f"/{SERVICE}/GetMembership": Access(roles=READERS, self_field="user_id", line=USER_LINE),
    f"/{SERVICE}/IsMember": MEMBERS_OWN,
    f"/{SERVICE}/GetCoupons": MEMBERS_OWN,
    f"/{SERVICE}/UseCoupon": Access(roles=BUYERS, line=USER_LINE),
}
