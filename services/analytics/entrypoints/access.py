"""Who may call each analytics RPC (libs.grpckit.access): the rules the interceptor enforces before the
servicer runs. A line's KPIs and consumer status are read by that line's analysts and operators only."""

from __future__ import annotations

from collections.abc import Mapping

from libs.auth import Role
from libs.grpckit.access import Access, line_field
from services.analytics.entrypoints.validation import SERVICE

READ_LINE = Access(roles=frozenset({Role.ANALYTICS, Role.OPERATOR}), line=line_field("line"))

ACCESS: Mapping[str, Access] = {
    f"/{SERVICE}/GetKpis": READ_LINE,
    f"/{SERVICE}/GetConsumerStatus": READ_LINE,
}
