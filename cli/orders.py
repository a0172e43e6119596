"""Order commands: a user's orders, one order, and paying one as the payment provider would (local platforms:
the provider's adapter, `payments`, is the caller the order service accepts confirmations from)."""

from __future__ import annotations

import uuid
from typing import Annotated

import grpc
import typer
from pingou.order.v1 import order_pb2 as pb
from pingou.order.v1 import order_pb2_grpc as pb_grpc
from rich.table import Table

from cli import output
from cli.connection import PAYMENTS, order_line_or, session_of, user_line_or

orders = typer.Typer(help="Orders of both lines (ids carry their line: po_… pingou, mo_… mall).", no_args_is_help=True)


def order_service(channel: grpc.aio.Channel) -> pb_grpc.OrderServiceStub:
    return pb_grpc.OrderServiceStub(channel)


def state(order: pb.Order) -> str:
    return output.label(pb.OrderState.DESCRIPTOR, order.state)


def orders_table(title: str | None, found: list[pb.Order]) -> Table:
    rows = output.table(title, "order", "user", "kind", "state", "total", "channel", "city", "group", "created")
    for order in found:
        rows.add_row(
            order.order_id,
            order.user_id,
            output.label(pb.OrderKind.DESCRIPTOR, order.kind),
            state(order),
            output.money(order.total_minor),
            output.label(pb.Channel.DESCRIPTOR, order.channel),
            order.shipping_city,
            order.group_id,
            output.moment(order.created_at),
        )
    return rows


def render_order(order: pb.Order) -> output.Rendered:
    head = output.details(
        "order",
        [
            ("order", order.order_id),
            ("user", order.user_id),
            ("kind", output.label(pb.OrderKind.DESCRIPTOR, order.kind)),
            ("state", state(order)),
            ("total", output.money(order.total_minor)),
            ("channel", output.label(pb.Channel.DESCRIPTOR, order.channel)),
            ("ship to", order.shipping_city),
            ("group", order.group_id),
            ("seat", order.seat_id),
            ("group leader", output.yes(order.group_leader)),
            ("pay by", output.moment(order.payment.expires_at) if order.HasField("payment") else ""),
            ("paid at", output.moment(order.paid_at)),
            ("payment reference", order.payment_reference),
            ("cancelled", output.label(pb.CancelReason.DESCRIPTOR, order.cancel_reason) if order.cancel_reason else ""),
            ("created", output.moment(order.created_at)),
        ],
    )
    items = output.table(None, "sku", "quantity", "unit price", "list price", "PLUS price")
    for item in order.items:
        items.add_row(
            item.sku_id,
            str(item.quantity),
            output.money(item.unit_price_minor),
            output.money(item.list_price_minor),
            output.yes(item.plus_price),
        )
    refunds = None
    if order.refunds:
        refunds = output.table("refunds", "refund", "reason", "state", "amount", "attempts")
        for refund in order.refunds:
            refunds.add_row(
                refund.refund_id,
                output.label(pb.RefundReason.DESCRIPTOR, refund.reason),
                output.label(pb.RefundState.DESCRIPTOR, refund.state),
                output.money(refund.amount_minor),
                str(refund.attempts),
            )
    return [head, items, refunds]


@orders.command("list")
def list_orders(
    context: typer.Context,
    user: Annotated[str, typer.Option(help="the buyer's user id (pu_… or mu_…)")],
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    page_token: str = "",
) -> None:
    """A user's orders, newest first."""
    session = session_of(context)
    request = pb.ListUserOrdersRequest(user_id=user, page_size=limit, page_token=page_token)
    speaker = session.operator(user_line_or(user, session.line))
    reply: pb.ListOrdersResponse = session.call(
        "order", speaker, lambda channel: order_service(channel).ListUserOrders(request), retry=True
    )
    output.emit(
        session,
        reply,
        lambda reply: [orders_table(f"orders of {user}", list(reply.orders)), output.next_page(reply.next_page_token)],
    )


def get_order(context: typer.Context, order_id: str) -> pb.Order:
    session = session_of(context)
    speaker = session.operator(order_line_or(order_id, session.line))
    request = pb.GetOrderRequest(order_id=order_id)
    order: pb.Order = session.call(
        "order", speaker, lambda channel: order_service(channel).GetOrder(request), retry=True
    )
    return order


@orders.command("show")
def show_order(context: typer.Context, order_id: Annotated[str, typer.Argument(metavar="ORDER")]) -> None:
    """One order: its items, payment and refunds."""
    output.emit(session_of(context), get_order(context, order_id), render_order)


@orders.command("pay")
def pay_order(
    context: typer.Context,
    order_id: Annotated[str, typer.Argument(metavar="ORDER")],
    reference: Annotated[str, typer.Option(help="the provider's payment reference; default: a new one")] = "",
) -> None:
    """Confirm the payment of an order's full amount, as the payment provider does (local platforms)."""
    session = session_of(context)
    order = get_order(context, order_id)
    request = pb.ConfirmPaymentRequest(
        order_id=order.order_id,
        intent_id=order.payment.intent_id,
        payment_reference=reference or f"cli-{uuid.uuid4().hex}",
        amount_minor=order.total_minor,
        currency=order.payment.currency or order.currency,
    )
    speaker = session.outside_service(PAYMENTS, order_line_or(order_id, session.line))
    paid: pb.Order = session.call(
        "order", speaker, lambda channel: order_service(channel).ConfirmPayment(request), retry=True
    )
    output.emit(session, paid, render_order)
