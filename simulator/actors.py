"""The simulator's actors, each speaking as itself: merchants (their products and listings, stock set by an
operator), the account system (`accounts`: registers the buyers, links their phones), the buyers (with
their own `user` tokens: open, join, auto-match, order, cancel, ask for a refund) and the payment provider
(`payments`: confirms payments, sells PLUS, and answers the refunds the order service asks for, which it
learns from RefundRequested on the order topics, and from the orders' refund state for any it missed)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer
from google.protobuf.timestamp_pb2 import Timestamp
from pingou.catalog.v1 import catalog_pb2 as catalog
from pingou.common.v1 import common_pb2 as common
from pingou.events.v1 import envelope_pb2
from pingou.groupbuy.v1 import groupbuy_pb2 as groupbuy
from pingou.membership.v1 import events_pb2 as membership_events
from pingou.membership.v1 import membership_pb2 as membership
from pingou.order.v1 import events_pb2 as order_events
from pingou.order.v1 import order_pb2 as order
from pingou.segmentation.v1 import segmentation_pb2 as segmentation

from libs.auth import Role
from libs.core import BusinessLine
from libs.core.orders import CURRENCY
from libs.events.envelope import topic_name
from simulator.client import Platform
from simulator.day import FLASH_SKU, FLASH_STOCK_SHARE, GROUP_SKUS, MALL_SKUS, DayPlan
from simulator.population import MINI_PROGRAM, Person

PINGOU, MALL = BusinessLine.PINGOU, BusinessLine.MALL
LINE_TO_PROTO = {PINGOU: common.BUSINESS_LINE_PINGOU, MALL: common.BUSINESS_LINE_MALL}
PLENTY = 100_000  # stock of every SKU but the flash one: it never runs out
REGISTRATION_CONCURRENCY = 32
SOLD_OUT = frozenset({"OUT_OF_STOCK"})
# The flash SKU's stock taken as fast as groupbuy leases it: the app tries again (the same key: one seat).
BUSY = frozenset({"STOCK_CONTENDED"})
PLUS_PRICES = {"PLAN_TRIAL": 0, "PLAN_MONTHLY": 1500, "PLAN_ANNUAL": 14900}  # membership's plans, in fen


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


# --- merchants


@dataclass(frozen=True)
class Assortment:
    """The day's SKUs (plan key -> SKU id, per line) and the units stocked for each."""

    skus: dict[BusinessLine, dict[str, str]]
    stocked: dict[BusinessLine, dict[str, int]]  # SKU id -> units set


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    category_id: str  # of the merchant's products in the demo catalog, as are its belt and factory flag
    belt_id: str
    factory_direct: bool


class Merchants:
    def __init__(self, platform: Platform, run: str):
        self._platform, self._run = platform, run

    async def _demo_merchants(self, count: int) -> list[Merchant]:
        """Merchants of the demo catalog, found through its pingou listings (each with a belt and category)."""
        p = self._platform
        found = await p.catalog.SearchListings(
            catalog.SearchListingsRequest(line=common.BUSINESS_LINE_PINGOU, page_size=100), metadata=p.operator(PINGOU)
        )
        product_ids = sorted({listing.product_id for listing in found.listings})
        if not product_ids:
            raise RuntimeError("the catalog lists nothing on pingou: is the demo catalog loaded (`make up` seeds it)?")
        products = await p.catalog.GetProducts(
            catalog.GetProductsRequest(product_ids=product_ids), metadata=p.operator(PINGOU)
        )
        merchants: dict[str, Merchant] = {}
        for product in products.products:
            merchants.setdefault(
                product.merchant_id,
                Merchant(product.merchant_id, product.category_id, product.belt_id, product.factory_direct),
            )
        return list(merchants.values())[:count]

    async def _product(self, merchant: Merchant, title: str) -> str:
        """A one-SKU product of the merchant, created with its own token; the SKU's id."""
        p = self._platform
        product = await p.catalog.CreateProduct(
            catalog.CreateProductRequest(
                merchant_id=merchant.merchant_id,
                category_id=merchant.category_id,
                belt_id=merchant.belt_id,
                factory_direct=merchant.factory_direct,
                title=f"{title} · 全民拼购日 {self._run}",
                skus=[catalog.Sku(title="标准款")],
            ),
            metadata=p.as_(merchant.merchant_id, PINGOU, Role.MERCHANT),
        )
        return str(product.skus[0].sku_id)

    async def stock_the_day(self, plan: DayPlan) -> Assortment:
        p = self._platform
        merchants = await self._demo_merchants(4)
        skus: dict[BusinessLine, dict[str, str]] = {PINGOU: {}, MALL: {}}
        stocked: dict[BusinessLine, dict[str, int]] = {PINGOU: {}, MALL: {}}
        for index, (key, spec) in enumerate(GROUP_SKUS.items()):
            merchant = merchants[index % len(merchants)]
            sku_id = await self._product(merchant, spec.title)
            rule = catalog.GroupRule(
                size=spec.size,
                window_minutes=spec.window_minutes,
                strangers_can_join=spec.strangers_can_join,
                auto_match=spec.auto_match,
                leader_free=spec.leader_free,
            )
            price = catalog.PingouPrice(
                solo_price_minor=spec.solo_price_minor, group_price_minor=spec.group_price_minor, rule=rule
            )
            await p.catalog.UpsertListing(
                catalog.UpsertListingRequest(line=LINE_TO_PROTO[PINGOU], sku_id=sku_id, pingou=price),
                metadata=p.as_(merchant.merchant_id, PINGOU, Role.MERCHANT),
            )
            units = max(1, round(plan.flash_seats_planned() * FLASH_STOCK_SHARE)) if key == FLASH_SKU else PLENTY
            await self._set_stock(PINGOU, sku_id, units)
            skus[PINGOU][key], stocked[PINGOU][sku_id] = sku_id, units
        for index, (key, mall_spec) in enumerate(MALL_SKUS.items()):
            merchant = merchants[(index + 1) % len(merchants)]
            sku_id = await self._product(merchant, mall_spec.title)
            mall_price = catalog.MallPrice(
                price_minor=mall_spec.price_minor, plus_price_minor=mall_spec.plus_price_minor or 0
            )
            await p.catalog.UpsertListing(
                catalog.UpsertListingRequest(line=LINE_TO_PROTO[MALL], sku_id=sku_id, mall=mall_price),
                metadata=p.as_(merchant.merchant_id, MALL, Role.MERCHANT),
            )
            await self._set_stock(MALL, sku_id, PLENTY)
            skus[MALL][key], stocked[MALL][sku_id] = sku_id, PLENTY
        return Assortment(skus, stocked)

    async def _set_stock(self, line: BusinessLine, sku_id: str, units: int) -> None:
        p = self._platform
        await p.catalog.SetStock(
            catalog.SetStockRequest(line=LINE_TO_PROTO[line], sku_id=sku_id, available=units), metadata=p.operator(line)
        )


# --- the account system


class Accounts:
    """Registers every person's accounts the way the apps' sign-up does, as the `accounts` service: a
    mini-program user by their WeChat id, anyone else by phone; a person on both lines binds their phone
    to the pingou account too, which links it to their mall account (segmentation hashes the phone)."""

    def __init__(self, platform: Platform):
        self._platform = platform

    async def register(self, people: Sequence[Person], registered: Callable[[], None] = lambda: None) -> None:
        gate = asyncio.Semaphore(REGISTRATION_CONCURRENCY)

        async def sign_up(person: Person, line: BusinessLine) -> None:
            p = self._platform
            channel = person.channels[line]
            by_wechat = line is PINGOU and channel == MINI_PROGRAM
            identity = (
                segmentation.ExternalIdentity(kind=segmentation.IDENTITY_KIND_WECHAT_UNIONID, value=person.unionid)
                if by_wechat
                else segmentation.ExternalIdentity(kind=segmentation.IDENTITY_KIND_PHONE, value=person.phone)
            )
            request = segmentation.RegisterUserRequest(
                city=person.city, channel=segmentation.Channel.Value(channel), identities=[identity]
            )
            async with gate:
                user = await p.call(p.segmentation.RegisterUser, request, p.service("accounts", line))
                if user is None:
                    return
                person.accounts[line] = user.user_id
                registered()
                if by_wechat and MALL in person.lines:
                    phone = segmentation.ExternalIdentity(kind=segmentation.IDENTITY_KIND_PHONE, value=person.phone)
                    await p.call(
                        p.segmentation.LinkIdentity,
                        segmentation.LinkIdentityRequest(user_id=user.user_id, identity=phone),
                        p.service("accounts", line),
                    )

        # Mall accounts first: a person on both lines links their pingou account to the mall one.
        for line in (MALL, PINGOU):
            await asyncio.gather(*(sign_up(person, line) for person in people if line in person.lines))


# --- buyers


class Buyers:
    """What buyers do themselves, each with a token of their own account."""

    def __init__(self, platform: Platform):
        self._platform = platform

    def _buyer(self, person: Person, key: str) -> groupbuy.Buyer:
        return groupbuy.Buyer(
            user_id=person.account(PINGOU),
            shipping_city=person.city,
            channel=order.Channel.Value(person.channels[PINGOU]),
            idempotency_key=key,
        )

    def _as(self, person: Person, line: BusinessLine) -> list[tuple[str, str]]:
        return self._platform.as_(person.account(line), line, Role.USER)

    async def open_group(self, person: Person, sku_id: str, key: str) -> groupbuy.SeatResult | None:
        p = self._platform
        request = groupbuy.OpenGroupRequest(buyer=self._buyer(person, key), sku_id=sku_id)
        return await p.call(p.groupbuy.OpenGroup, request, self._as(person, PINGOU), expected=SOLD_OUT, again_on=BUSY)

    async def join_by_code(self, person: Person, code: str, key: str) -> groupbuy.SeatResult | None:
        p = self._platform
        request = groupbuy.JoinGroupRequest(buyer=self._buyer(person, key), invite_code=code)
        expected = {"GROUP_FULL", "GROUP_COMPLETED", "GROUP_FAILED", "GROUP_EXPIRED", *SOLD_OUT}
        return await p.call(p.groupbuy.JoinGroup, request, self._as(person, PINGOU), expected=expected, again_on=BUSY)

    async def auto_match(self, person: Person, sku_id: str, key: str) -> groupbuy.SeatResult | None:
        p = self._platform
        request = groupbuy.AutoMatchRequest(buyer=self._buyer(person, key), sku_id=sku_id)
        return await p.call(p.groupbuy.AutoMatch, request, self._as(person, PINGOU), expected=SOLD_OUT, again_on=BUSY)

    async def place_mall_order(self, person: Person, items: Sequence[tuple[str, int]], key: str) -> order.Order | None:
        p = self._platform
        request = order.PlaceMallOrderRequest(
            idempotency_key=key,
            user_id=person.account(MALL),
            items=[order.LineItem(sku_id=sku_id, quantity=quantity) for sku_id, quantity in items],
            shipping_city=person.city,
            channel=order.Channel.Value(person.channels[MALL]),
        )
        return await p.call(p.order.PlaceMallOrder, request, self._as(person, MALL), expected={"OUT_OF_STOCK"})

    async def cancel(self, person: Person, line: BusinessLine, order_id: str) -> order.Order | None:
        p = self._platform
        request = order.CancelOrderRequest(order_id=order_id, idempotency_key=f"cancel-{order_id}")
        # An order not placed yet is not the buyer's yet either (the service does not tell buyers what exists).
        return await p.call(
            p.order.CancelOrder,
            request,
            self._as(person, line),
            expected={"INVALID_ORDER_STATE"},
            again_on={"NOT_THE_BUYER"},
        )

    async def ask_refund(self, person: Person, line: BusinessLine, order_id: str) -> order.Order | None:
        p = self._platform
        request = order.RequestRefundRequest(
            order_id=order_id, idempotency_key=f"after-sale-{order_id}", note="不想要了"
        )
        return await p.call(p.order.RequestRefund, request, self._as(person, line), expected={"INVALID_ORDER_STATE"})


# --- the payment provider


@dataclass
class ProviderLedger:
    confirmed: int = 0  # payments confirmed and accepted
    refused_late: int = 0  # confirmations that came after the buyer cancelled: the order service refunds them
    plus_sold: int = 0
    refunds_answered: int = 0
    answered: set[tuple[str, int]] = field(default_factory=set)  # (refund id, attempt)


class PaymentProvider:
    def __init__(self, platform: Platform):
        self._platform = platform
        self.ledger = ProviderLedger()
        self._listening: asyncio.Task[None] | None = None

    async def confirm(self, line: BusinessLine, placed: order.Order, paid_at: datetime) -> order.Order | None:
        """The provider took the money at `paid_at` and tells the order service now."""
        p = self._platform
        request = order.ConfirmPaymentRequest(
            order_id=placed.order_id,
            intent_id=placed.payment.intent_id,
            payment_reference=f"pay-{uuid.uuid4().hex}",
            amount_minor=placed.payment.amount_minor,
            currency=placed.payment.currency or CURRENCY,
            paid_at=_timestamp(paid_at),
        )
        # A seat's order is placed from groupbuy's event a moment after the join: while the order service has
        # not placed it yet, the provider's confirmation is refused as ORDER_NOT_FOUND, and sent again.
        answer = await p.call(
            p.order.ConfirmPayment,
            request,
            p.service("payments", line),
            expected={"ORDER_CANCELLED"},
            again_on={"ORDER_NOT_FOUND"},
        )
        if answer is None:
            self.ledger.refused_late += 1
        else:
            self.ledger.confirmed += 1
        return answer

    async def sell_plus(self, person: Person, line: BusinessLine, plan: str) -> membership.Membership | None:
        p = self._platform
        request = membership.PurchaseRequest(
            user_id=person.account(line),
            plan=membership_events.Plan.Value(plan),
            payment_reference=f"plus-{uuid.uuid4().hex}",
            amount_paid_minor=PLUS_PRICES[plan],
            currency=CURRENCY,
            auto_renew=plan != "PLAN_TRIAL",
        )
        expected = {"TRIAL_ALREADY_USED", "ALREADY_MEMBER"}
        sold = await p.call(p.membership.Purchase, request, p.service("payments", line), expected=expected)
        if sold is not None:
            self.ledger.plus_sold += 1
        return sold

    # Refunds: the order service publishes RefundRequested (again, with the next attempt, until answered).

    async def answer_refund(self, line: BusinessLine, refund: order.Refund) -> None:
        key = (refund.refund_id, refund.attempts)
        if key in self.ledger.answered or refund.state != order.REFUND_STATE_REQUESTED:
            return
        self.ledger.answered.add(key)
        p = self._platform
        request = order.ReportRefundResultRequest(
            refund_id=refund.refund_id,
            succeeded=True,
            provider_reference=f"rfd-{uuid.uuid4().hex[:24]}",
            attempt=refund.attempts,
        )
        if await p.call(p.order.ReportRefundResult, request, p.service("payments", line)) is not None:
            self.ledger.refunds_answered += 1

    async def start_listening(self) -> None:
        """Reads RefundRequested from both lines' order topics, from their ends as of now."""
        p = self._platform
        topics = {topic_name(line, "order", prefix=p.local.topic_prefix): line for line in (PINGOU, MALL)}
        # Without a group, the consumer is given every partition of the topics it subscribes to.
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=p.local.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        for _ in range(600):  # the assignment follows the first metadata answer
            if consumer.assignment():
                break
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"no partitions of {', '.join(topics)} after 30 s: is Kafka up, are the topics made?")
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)  # the end is resolved now, before the day publishes anything
        self._listening = asyncio.create_task(self._listen(consumer, topics))

    async def _listen(self, consumer: AIOKafkaConsumer, topics: dict[str, BusinessLine]) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for partition, records in batches.items():
                    for record in records:
                        envelope = envelope_pb2.EventEnvelope.FromString(record.value)
                        if envelope.payload.Is(order_events.RefundRequested.DESCRIPTOR):
                            asked = order_events.RefundRequested()
                            envelope.payload.Unpack(asked)
                            await self.answer_refund(topics[partition.topic], asked.refund)
        finally:
            await consumer.stop()

    async def stop_listening(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening

    async def sweep_refunds(self) -> None:
        """Answers every refund still asked of it, found through the orders being refunded: those asked
        while no provider listened (a group left to fail by an earlier run fails after it ended)."""
        p = self._platform
        for line in (PINGOU, MALL):
            token = ""
            while True:
                page = await p.call(
                    p.order.ListOrdersByState,
                    order.ListOrdersByStateRequest(state=order.ORDER_STATE_REFUNDING, page_size=100, page_token=token),
                    p.service("payments", line),
                )
                if page is None:
                    break
                for listed in page.orders:
                    found = await p.call(
                        p.order.GetOrder, order.GetOrderRequest(order_id=listed.order_id), p.service("payments", line)
                    )
                    for refund in found.refunds if found is not None else ():
                        await self.answer_refund(line, refund)
                token = page.next_page_token
                if not token:
                    break
