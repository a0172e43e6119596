"""Catalog commands: merchants, products, listings and stock, as an operator of the chosen line.
Prices are typed and shown in yuan (15.90); the API carries fen."""

from __future__ import annotations

from typing import Annotated

import grpc
import typer
from pingou.catalog.v1 import catalog_pb2 as pb
from pingou.catalog.v1 import catalog_pb2_grpc as pb_grpc
from rich.table import Table

from cli import output
from cli.connection import session_of
from libs.convert import LINE_FROM_PROTO, LINE_TO_PROTO
from libs.core import BusinessLine

merchants = typer.Typer(help="Merchants (read only: they come with the catalog).", no_args_is_help=True)
products = typer.Typer(help="Products (SPU) and their SKUs.", no_args_is_help=True)
listings = typer.Typer(help="Listings of the chosen line: prices, the group rule, search.", no_args_is_help=True)
stock = typer.Typer(help="Stock of a SKU on the chosen line.", no_args_is_help=True)

PageSize = Annotated[int, typer.Option("--limit", min=1, max=100, help="rows per page")]
PageToken = Annotated[str, typer.Option(help="the page after the one that printed it")]


def catalog(channel: grpc.aio.Channel) -> pb_grpc.CatalogServiceStub:
    return pb_grpc.CatalogServiceStub(channel)


# --- merchants


@merchants.command("list")
def list_merchants(
    context: typer.Context,
    belt: Annotated[str, typer.Option(help="only this industrial belt's merchants")] = "",
    limit: PageSize = 50,
    page_token: PageToken = "",
) -> None:
    """Merchants in id order."""
    session = session_of(context)
    request = pb.ListMerchantsRequest(belt_id=belt, page_size=limit, page_token=page_token)
    reply: pb.ListMerchantsResponse = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).ListMerchants(request), retry=True
    )

    def render(reply: pb.ListMerchantsResponse) -> output.Rendered:
        rows = output.table("merchants", "merchant", "name", "belt", "factory-direct")
        for merchant in reply.merchants:
            rows.add_row(merchant.merchant_id, merchant.name, merchant.belt_id, output.yes(merchant.factory_direct))
        return [rows, output.next_page(reply.next_page_token)]

    output.emit(session, reply, render)


# --- products


def render_product(product: pb.Product) -> output.Rendered:
    head = output.details(
        "product",
        [
            ("product", product.product_id),
            ("title", product.title),
            ("merchant", product.merchant_id),
            ("category", product.category_id),
            ("belt", product.belt_id),
            ("factory-direct", output.yes(product.factory_direct)),
            ("description", product.description),
            ("images", " ".join(product.image_urls)),
            ("attributes", ", ".join(f"{key}={value}" for key, value in sorted(product.attributes.items()))),
        ],
    )
    skus = output.table(None, "sku", "title", "attributes")
    for sku in product.skus:
        skus.add_row(sku.sku_id, sku.title, ", ".join(f"{k}={v}" for k, v in sorted(sku.attributes.items())))
    return [head, skus]


@products.command("create")
def create_product(
    context: typer.Context,
    merchant: Annotated[str, typer.Option(help="the merchant id (see `pingou merchants list`)")],
    category: Annotated[str, typer.Option(help="the category id")],
    title: Annotated[str, typer.Option(help="1 to 120 characters")],
    sku: Annotated[list[str] | None, typer.Option(help="a SKU's title (repeat for several); default one: 标准")] = None,
    belt: Annotated[str, typer.Option(help="the industrial belt it comes from")] = "",
    factory_direct: Annotated[bool, typer.Option(help="厂直优品")] = False,
    description: str = "",
    image: Annotated[list[str] | None, typer.Option(help="an https image URL (repeat)")] = None,
) -> None:
    """Create a product with its SKUs (ids are issued by catalog)."""
    session = session_of(context)
    request = pb.CreateProductRequest(
        merchant_id=merchant,
        category_id=category,
        belt_id=belt,
        factory_direct=factory_direct,
        title=title,
        description=description,
        image_urls=image or [],
        skus=[pb.Sku(title=name) for name in sku or ["标准"]],
    )
    product: pb.Product = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).CreateProduct(request)
    )
    output.emit(session, product, render_product)


@products.command("show")
def show_products(
    context: typer.Context, product_ids: Annotated[list[str], typer.Argument(metavar="PRODUCT...")]
) -> None:
    """Products by id, with their SKUs."""
    session = session_of(context)
    request = pb.GetProductsRequest(product_ids=product_ids)
    reply: pb.GetProductsResponse = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).GetProducts(request), retry=True
    )
    output.emit(session, reply, lambda reply: [part for product in reply.products for part in render_product(product)])
    missing = set(product_ids) - {product.product_id for product in reply.products}
    if missing:
        typer.echo(f"error: NOT_FOUND: no product {', '.join(sorted(missing))}", err=True)
        raise typer.Exit(1)


# --- listings


def render_listings(line: BusinessLine, found: list[pb.Listing]) -> Table:
    if line is BusinessLine.MALL:
        rows = output.table(f"{line} listings", "sku", "title", "price", "PLUS price", "active", "version")
        for item in found:
            plus = output.money(item.mall.plus_price_minor) if item.mall.plus_price_minor else ""
            rows.add_row(
                item.sku_id,
                item.title,
                output.money(item.mall.price_minor),
                plus,
                output.yes(item.active),
                str(item.version),
            )
        return rows
    rows = output.table(f"{line} listings", "sku", "title", "solo", "group", "leader", "rule", "active", "version")
    for item in found:
        price = item.pingou
        leader = (
            "free"
            if price.rule.leader_free
            else output.money(price.leader_price_minor)
            if price.leader_price_minor
            else ""
        )
        rows.add_row(
            item.sku_id,
            item.title,
            output.money(price.solo_price_minor),
            output.money(price.group_price_minor),
            leader,
            rule_text(price.rule),
            output.yes(item.active),
            str(item.version),
        )
    return rows


def rule_text(rule: pb.GroupRule) -> str:
    flags = [
        ("per user " + str(rule.per_user_limit)) if rule.per_user_limit else "",
        "new users only" if rule.new_user_only else "",
        "PLUS only" if rule.plus_only else "",
        "strangers" if rule.strangers_can_join else "",
        "auto-match" if rule.auto_match else "",
    ]
    return ", ".join([f"{rule.size} people, {rule.window_minutes} min", *filter(None, flags)])


@listings.command("upsert")
def upsert_listing(
    context: typer.Context,
    sku_id: Annotated[str, typer.Argument(metavar="SKU")],
    price: Annotated[int | None, typer.Option(parser=output.fen, metavar="YUAN", help="mall: the price")] = None,
    plus_price: Annotated[int, typer.Option(parser=output.fen, metavar="YUAN", help="mall: PLUS price")] = 0,
    solo_price: Annotated[int | None, typer.Option(parser=output.fen, metavar="YUAN", help="pingou")] = None,
    group_price: Annotated[int | None, typer.Option(parser=output.fen, metavar="YUAN", help="pingou")] = None,
    leader_price: Annotated[int, typer.Option(parser=output.fen, metavar="YUAN", help="pingou; 0: none")] = 0,
    size: Annotated[int, typer.Option(help="pingou: people in a group, 2..50")] = 2,
    window_minutes: Annotated[int, typer.Option(help="pingou: 10..10080")] = 1440,
    per_user_limit: Annotated[int, typer.Option(help="pingou: groups of the SKU a user may be in at once; 0: any")] = 0,
    new_user_only: Annotated[bool, typer.Option(help="pingou: 新人团")] = False,
    plus_only: bool = False,
    strangers: Annotated[bool, typer.Option(help="pingou: strangers may join from the open-group list")] = True,
    auto_match: bool = True,
    leader_free: Annotated[bool, typer.Option(help="pingou: 团长免单")] = False,
) -> None:
    """List a SKU on the chosen line, or change its listing.

    Mall: --price (and --plus-price). Pingou: --solo-price, --group-price and the group rule.
    """
    session = session_of(context)
    request = pb.UpsertListingRequest(line=LINE_TO_PROTO[session.line], sku_id=sku_id)
    if session.line is BusinessLine.MALL:
        if price is None:
            raise typer.BadParameter("a mall listing needs --price", param_hint="--price")
        request.mall.CopyFrom(pb.MallPrice(price_minor=price, plus_price_minor=plus_price))
    else:
        if solo_price is None or group_price is None:
            raise typer.BadParameter(
                "a pingou listing needs --solo-price and --group-price", param_hint="--group-price"
            )
        rule = pb.GroupRule(
            size=size,
            window_minutes=window_minutes,
            per_user_limit=per_user_limit,
            new_user_only=new_user_only,
            plus_only=plus_only,
            strangers_can_join=strangers,
            auto_match=auto_match,
            leader_free=leader_free,
        )
        request.pingou.CopyFrom(
            pb.PingouPrice(
                solo_price_minor=solo_price, group_price_minor=group_price, leader_price_minor=leader_price, rule=rule
            )
        )
    listing: pb.Listing = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).UpsertListing(request), retry=True
    )
    output.emit(session, listing, lambda listing: [render_listings(session.line, [listing])])


@listings.command("show")
def show_listings(context: typer.Context, sku_ids: Annotated[list[str], typer.Argument(metavar="SKU...")]) -> None:
    """Listings of SKUs on the chosen line."""
    session = session_of(context)
    request = pb.GetListingsRequest(line=LINE_TO_PROTO[session.line], sku_ids=sku_ids)
    reply: pb.GetListingsResponse = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).GetListings(request), retry=True
    )
    output.emit(session, reply, lambda reply: [render_listings(session.line, list(reply.listings))])
    missing = set(sku_ids) - {listing.sku_id for listing in reply.listings}
    if missing:
        typer.echo(f"error: NOT_FOUND: no {session.line} listing of {', '.join(sorted(missing))}", err=True)
        raise typer.Exit(1)


@listings.command("search")
def search_listings(
    context: typer.Context,
    query: Annotated[str, typer.Argument(help="words of the title")] = "",
    category: str = "",
    belt: str = "",
    factory_direct: Annotated[bool | None, typer.Option("--factory-direct/--not-factory-direct")] = None,
    min_price: Annotated[int, typer.Option(parser=output.fen, metavar="YUAN")] = 0,
    max_price: Annotated[int, typer.Option(parser=output.fen, metavar="YUAN", help="0: no bound")] = 0,
    limit: PageSize = 20,
    page_token: PageToken = "",
) -> None:
    """Search the chosen line's active listings, cheapest first."""
    session = session_of(context)
    request = pb.SearchListingsRequest(
        line=LINE_TO_PROTO[session.line],
        query=query,
        category_id=category,
        belt_id=belt,
        min_price_minor=min_price,
        max_price_minor=max_price,
        page_size=limit,
        page_token=page_token,
    )
    if factory_direct is not None:
        request.factory_direct = factory_direct
    reply: pb.SearchListingsResponse = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).SearchListings(request), retry=True
    )
    output.emit(
        session,
        reply,
        lambda reply: [render_listings(session.line, list(reply.listings)), output.next_page(reply.next_page_token)],
    )


# --- stock


def render_stock(level: pb.Stock) -> output.Rendered:
    rows = output.table(None, "sku", "line", "available", "reserved", "leased to groupbuy")
    rows.add_row(
        level.sku_id,
        str(LINE_FROM_PROTO.get(level.line, "")),
        str(level.available),
        str(level.reserved),
        str(level.leased),
    )
    return [rows]


@stock.command("set")
def set_stock(
    context: typer.Context,
    sku_id: Annotated[str, typer.Argument(metavar="SKU")],
    available: Annotated[int, typer.Argument(min=0, help="units free to reserve")],
) -> None:
    """Set the units of a SKU free to reserve on the chosen line (reserved units come on top)."""
    session = session_of(context)
    request = pb.SetStockRequest(line=LINE_TO_PROTO[session.line], sku_id=sku_id, available=available)
    level: pb.Stock = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).SetStock(request), retry=True
    )
    output.emit(session, level, render_stock)


@stock.command("show")
def show_stock(context: typer.Context, sku_id: Annotated[str, typer.Argument(metavar="SKU")]) -> None:
    """A SKU's stock on the chosen line."""
    session = session_of(context)
    request = pb.GetStockRequest(line=LINE_TO_PROTO[session.line], sku_id=sku_id)
    level: pb.Stock = session.call(
        "catalog", session.operator(), lambda channel: catalog(channel).GetStock(request), retry=True
    )
    output.emit(session, level, render_stock)
