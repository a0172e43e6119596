"""The PLUS plans: the one place where periods and prices are defined."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from libs.core import FailedPrecondition

CURRENCY = "CNY"


class Plan(StrEnum):
    ANNUAL = "annual"
    MONTHLY = "monthly"
    TRIAL = "trial"


@dataclass(frozen=True, slots=True)
class PlanTerms:
    plan: Plan
    period: timedelta
    price_minor: int  # fen
    renewable: bool  # a trial is bought once and never renewed (renewing means paying for a plan)

    def check_payment(self, *, amount_minor: int, currency: str) -> None:
        """The payment must be exactly the plan's price: anything else is a checkout bug, never a discount."""
        if (amount_minor, currency) != (self.price_minor, CURRENCY):
            raise FailedPrecondition(
                f"the {self.plan} plan costs {self.price_minor} fen {CURRENCY}, "
                f"not {amount_minor} {currency or '(no currency)'}",
                reason="AMOUNT_MISMATCH",
                metadata={"price_minor": str(self.price_minor), "currency": CURRENCY},
            )


PLANS: dict[Plan, PlanTerms] = {
    Plan.ANNUAL: PlanTerms(Plan.ANNUAL, timedelta(days=365), 14900, renewable=True),
    Plan.MONTHLY: PlanTerms(Plan.MONTHLY, timedelta(days=30), 1500, renewable=True),
    Plan.TRIAL: PlanTerms(Plan.TRIAL, timedelta(days=30), 0, renewable=False),
}
