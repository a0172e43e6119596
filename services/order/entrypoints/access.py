"""Who may call each order RPC (libs.grpckit.access): the rules the interceptor enforces before the
servicer runs. Order and refund ids carry their line, so the line is checked before anything is read. A
buyer places their own mall orders and reaches only their own orders (the servicer checks the order's
buyer); payments and refunds are reported by the services named in PAYMENT_CALLERS, group orders placed
by those in GROUP_ORDER_CALLERS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit.access import CALLERS_LINE, Access, user_line_of
from services.order.domain.model import line_of
from services.order.entrypoints.validation import SERVICE

PLACERS = frozenset({Role.SERVICE, Role.OPERATOR})
SHIPPERS = frozenset({Role.SERVICE, Role.OPERATOR})  # merchants, once orders know whose goods they hold
CHANGERS = frozenset({Role.SERVICE, Role.OPERATOR})
READERS = frozenset({Role.SERVICE, Role.OPERATOR, Role.ANALYTICS})
SERVICES = frozenset({Role.SERVICE})
OPERATORS = frozenset({Role.OPERATOR})
USER_LINE = user_line_of("user_id")


def order_line(request: Any) -> BusinessLine:
    return line_of(request.order_id, field="order_id")


def refund_line(request: Any) -> BusinessLine:
    return line_of(request.refund_id, field="refund_id")


ACCESS: Mapping[str, Access] = {
    f"/{SERVICE}/PlaceMallOrder": Access(roles=PLACERS, self_field="user_id", line=USER_LINE),
    f"/{SERVICE}/PlaceGroupOrder": Access(roles=SERVICES, line=USER_LINE, callers="group_order_callers"),
    f"/{SERVICE}/CancelOrder": Access(roles=CHANGERS, owner=Role.USER, line=order_line),
    f"/{SERVICE}/ConfirmPayment": Access(roles=SERVICES, line=order_line, callers="payment_callers"),
    f"/{SERVICE}/MarkShipped": Access(roles=SHIPPERS, line=order_line),
    f"/{SERVICE}/ConfirmDelivery": Access(roles=CHANGERS, owner=Role.USER, line=order_line),
    f"/{SERVICE}/RequestRefund": Access(roles=OPERATORS, owner=Role.USER, line=order_line),
    f"/{SERVICE}/ReportRefundResult": Access(roles=SERVICES, line=refund_line, callers="payment_callers"),
    f"/{SERVICE}/RetryRefund": Access(roles=OPERATORS, line=refund_line),
    f"/{SERVICE}/GetOrder": Access(roles=READERS, owner=Role.USER, line=order_line),
    f"/{SERVICE}/ListUserOrders": Access(roles=READERS, self_field="user_id", line=USER_LINE),
    # The orders of the caller's own line.
    f"/{SERVICE}/ListOrdersByState": Access(roles=frozenset({Role.OPERATOR, Role.SERVICE}), line=CALLERS_LINE),
}
