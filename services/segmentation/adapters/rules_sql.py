"""Segment rules as SQL over a line's `users` table (alias `u`), so one definition serves both the
answer for one user and the paginated member listing."""

from __future__ import annotations

from typing import Any

from libs.core import BusinessLine
from libs.database import schema_name
from services.segmentation.domain.model import SegmentRule

IDENTITY_SCHEMA = "segmentation_identity"


def users_table(line: BusinessLine) -> str:
    return f"{schema_name('segmentation', line)}.users"


def _accounts_with_orders() -> str:
    """Accounts (line, user_id) of either line that have paid at least one order."""
    return " UNION ALL ".join(
        f"SELECT '{line.value}'::text AS line, user_id FROM {users_table(line)} WHERE order_count > 0"
        for line in BusinessLine
    )


def new_to_company_sql(line_param: str) -> str:
    """True when user `u` (of the line in `line_param`) and every account linked to it have no order."""
    return f"""(u.order_count = 0 AND NOT EXISTS (
        SELECT 1
        FROM {IDENTITY_SCHEMA}.identity_links mine
        JOIN {IDENTITY_SCHEMA}.identity_links theirs
          ON theirs.identity_hash = mine.identity_hash
         AND (theirs.line, theirs.user_id) <> (mine.line, mine.user_id)
        JOIN ({_accounts_with_orders()}) ordered
          ON ordered.line = theirs.line AND ordered.user_id = theirs.user_id
        WHERE mine.line = {line_param} AND mine.user_id = u.user_id))"""


class Params:
    """Collects query arguments and hands out their $n placeholders."""

    def __init__(self, *initial: Any):
        self.values = list(initial)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def rule_condition(rule: SegmentRule, line: BusinessLine, params: Params) -> str:
    clauses = ["true"]
    if rule.min_tier is not None:
        clauses.append(f"u.city_tier >= {params.add(rule.min_tier)}")
    if rule.max_tier is not None:
        clauses.append(f"u.city_tier <= {params.add(rule.max_tier)}")
    if rule.channels:
        clauses.append(f"u.channel = ANY({params.add([channel.value for channel in rule.channels])}::text[])")
    if rule.new_to_company is not None:
        check = new_to_company_sql(params.add(line.value))
        clauses.append(check if rule.new_to_company else f"NOT {check}")
    if rule.dormant_days is not None:
        days = params.add(rule.dormant_days)
        clauses.append(f"coalesce(u.last_active_at, u.registered_at) <= now() - make_interval(days => {days})")
    if rule.plus_member is not None:
        member = "coalesce(u.plus_until > now(), false)"
        clauses.append(member if rule.plus_member else f"NOT {member}")
    if rule.min_orders is not None:
        clauses.append(f"u.order_count >= {params.add(rule.min_orders)}")
    if rule.max_orders is not None:
        clauses.append(f"u.order_count <= {params.add(rule.max_orders)}")
    return " AND ".join(clauses)
