"""Playing the day's plan against the platform: every person's turn is a task that waits for its simulated
minute (DayClock), takes its seat or places its order, and goes through its checkout; the payment provider
confirms at its own pace. Calls are bounded by the client's gate, so when the platform falls behind the
flash start, the turns queue, as buyers would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pingou.groupbuy.v1 import groupbuy_pb2 as groupbuy
from pingou.order.v1 import order_pb2 as order

from libs.core import BusinessLine
from simulator.actors import Assortment, Buyers, PaymentProvider
from simulator.day import GROUP_SKUS, AutoMatch, Checkout, DayClock, DayPlan, LedGroup, MallVisit, Pay, PlusPurchase
from simulator.population import Person

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL


@dataclass
class DayRecord:
    """What the day did, as the simulator saw it (the databases and analytics say the rest)."""

    started_at: datetime
    seats: int = 0  # seats taken (opened, joined, auto-matched)
    invites_used: int = 0  # friends who joined through the share code
    mall_orders: int = 0
    unpaid: int = 0  # orders whose buyer never paid
    cancelled: int = 0  # orders the buyer cancelled while the payment was on its way
    after_sales: int = 0  # refunds buyers asked for after paying
    free_leaders: int = 0  # leaders who ride free (团长免单): nothing to pay
    led_groups_opened: int = 0  # by a leader who shares the code with friends
    friends_only_groups: list[str] = field(default_factory=list)  # group ids: complete with friends, or fail


class Day:
    def __init__(
        self,
        plan: DayPlan,
        clock: DayClock,
        assortment: Assortment,
        buyers: Buyers,
        provider: PaymentProvider,
        *,
        run: str,
        visited: Callable[[], None] = lambda: None,
    ):
        self._plan, self._clock, self._skus = plan, clock, assortment.skus
        self._buyers, self._provider, self._run = buyers, provider, run
        self.visited = visited  # called when a person's turn is over (the progress bar)
        self._start = time.monotonic()
        self.record = DayRecord(started_at=datetime.now(UTC))

    def minute_now(self) -> float:
        return self._clock.minute(time.monotonic() - self._start)

    async def _until(self, minute: float) -> None:
        delay = self._start + self._clock.offset(minute) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def play(self) -> DayRecord:
        self._start = time.monotonic()
        self.record = DayRecord(started_at=datetime.now(UTC))
        plan = self._plan
        turns: list[Awaitable[None]] = [self._led_group(index, group) for index, group in enumerate(plan.led_groups)]
        turns += [self._auto_match(index, match) for index, match in enumerate(plan.auto_matches)]
        turns += [self._mall_visit(index, visit) for index, visit in enumerate(plan.mall_visits)]
        turns += [self._plus(purchase) for purchase in plan.plus_purchases]
        await asyncio.gather(*turns)
        return self.record

    # --- checkout: the buyer pays (or not), the provider confirms

    async def _checkout(self, line: BusinessLine, person: Person, placed: order.Order, minute: float,
                        checkout: Checkout) -> bool:  # fmt: skip
        """Goes through the order's checkout; whether the order was paid."""
        if placed.payment.amount_minor == 0:  # a free leader's order is paid on the spot
            self.record.free_leaders += 1
            return True
        if checkout.pay is Pay.NEVER:
            self.record.unpaid += 1
            return False
        paying = minute + checkout.pay_after
        await self._until(paying)
        paid_at = datetime.now(UTC)
        if checkout.pay is Pay.CANCELLED:
            self.record.cancelled += 1
            await self._buyers.cancel(person, line, placed.order_id)
        await self._until(paying + checkout.confirm_after)
        confirmed = await self._provider.confirm(line, placed, paid_at)
        return confirmed is not None

    # --- pingou

    async def _seat(self, seat_minute: float, person: Person, checkout: Checkout,
                    taken: groupbuy.SeatResult | None) -> None:  # fmt: skip
        if taken is not None:
            self.record.seats += 1
            await self._checkout(PINGOU, person, taken.order, seat_minute, checkout)
        self.visited()

    async def _led_group(self, index: int, group: LedGroup) -> None:
        sku_id = self._skus[PINGOU][group.sku]
        leader = group.leader
        await self._until(leader.minute)
        opened = None
        if PINGOU in leader.person.accounts:
            opened = await self._buyers.open_group(leader.person, sku_id, f"open-{self._run}-{index}")
        if opened is None:  # sold out (or not signed up): the friends never get a code
            self.visited()
            for _ in group.friends:
                self.visited()
            return
        self.record.led_groups_opened += 1
        if not GROUP_SKUS[group.sku].strangers_can_join:
            self.record.friends_only_groups.append(opened.group.group_id)
        code = opened.group.share_code

        async def friend(number: int) -> None:
            visit = group.friends[number]
            await self._until(visit.minute)
            if PINGOU not in visit.person.accounts:
                self.visited()
                return
            key = f"invite-{self._run}-{index}-{number}"
            joined = await self._buyers.join_by_code(visit.person, code, key)
            if joined is not None:
                self.record.invites_used += 1
            elif GROUP_SKUS[group.sku].auto_match:  # the group filled first: a seat in another one
                joined = await self._buyers.auto_match(visit.person, sku_id, f"{key}-matched")
            await self._seat(visit.minute, visit.person, visit.checkout, joined)

        await asyncio.gather(
            self._seat(leader.minute, leader.person, leader.checkout, opened),
            *(friend(number) for number in range(len(group.friends))),
        )

    async def _auto_match(self, index: int, match: AutoMatch) -> None:
        seat = match.seat
        await self._until(seat.minute)
        if PINGOU not in seat.person.accounts:
            self.visited()
            return
        taken = await self._buyers.auto_match(seat.person, self._skus[PINGOU][match.sku], f"match-{self._run}-{index}")
        await self._seat(seat.minute, seat.person, seat.checkout, taken)

    # --- mall and PLUS

    async def _mall_visit(self, index: int, visit: MallVisit) -> None:
        await self._until(visit.minute)
        if MALL not in visit.person.accounts:
            self.visited()
            return
        items = [(self._skus[MALL][sku], quantity) for sku, quantity in visit.items]
        placed = await self._buyers.place_mall_order(visit.person, items, f"mall-{self._run}-{index}")
        if placed is not None:
            self.record.mall_orders += 1
            paid = await self._checkout(MALL, visit.person, placed, visit.minute, visit.checkout)
            if paid and visit.after_sale_after is not None:
                await self._until(self.minute_now() + visit.after_sale_after)
                if await self._buyers.ask_refund(visit.person, MALL, placed.order_id) is not None:
                    self.record.after_sales += 1
        self.visited()

    async def _plus(self, purchase: PlusPurchase) -> None:
        await self._until(purchase.minute)
        if purchase.line in purchase.person.accounts:
            await self._provider.sell_plus(purchase.person, purchase.line, purchase.plan)
        self.visited()
