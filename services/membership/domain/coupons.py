"""The monthly free-shipping coupon ledger: months are calendar months in China's time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# Asia/Shanghai has been UTC+8 without daylight saving since 1991, so a fixed offset is exact for every
# date the service handles and needs no time-zone database on the host.
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")


def coupon_month(at: datetime) -> date:
    """The first day of the calendar month `at` falls in, in China: 2024-01-31T16:00Z is in February."""
    return at.astimezone(CHINA_TIME).date().replace(day=1)


@dataclass(frozen=True, slots=True)
class CouponBalance:
    user_id: str
    month: date
    granted: int  # 0 when nothing was granted this month (not a member when asked)
    remaining: int

    @property
    def month_label(self) -> str:
        return self.month.strftime("%Y-%m")
