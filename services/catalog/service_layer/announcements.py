"""Where catalog's domain becomes the protos of its integration events. ListingChanged carries the listing
as the API shows it, so the API's mapping (entrypoints/mapping.py) takes `listing_to_proto` from here."""

from __future__ import annotations

from dataclasses import asdict

from pingou.catalog.v1 import catalog_pb2 as pb

from libs.convert import LINE_TO_PROTO, timestamp
from services.catalog.domain.model import Listing


def _or_zero(value: int | None) -> int:
    return 0 if value is None else value


def listing_to_proto(listing: Listing) -> pb.Listing:
    prices = listing.prices
    message = pb.Listing(
        sku_id=listing.sku_id,
        line=LINE_TO_PROTO[listing.line],
        active=listing.active,
        version=listing.version,
        updated_at=timestamp(listing.updated_at),
        product_id=listing.product_id,
        title=listing.title,
        category_id=listing.category_id,
        belt_id=listing.belt_id or "",
        factory_direct=listing.factory_direct,
        image_url=listing.image_url,
    )
    if prices.group_rule is None:
        message.mall.CopyFrom(
            pb.MallPrice(price_minor=prices.price_minor, plus_price_minor=_or_zero(prices.plus_price_minor))
        )
    else:
        rule = prices.group_rule
        message.pingou.CopyFrom(
            pb.PingouPrice(
                solo_price_minor=prices.price_minor,
                group_price_minor=_or_zero(prices.group_price_minor),
                leader_price_minor=_or_zero(prices.leader_price_minor),
                rule=pb.GroupRule(**asdict(rule)),  # the domain rule and the message share field names
            )
        )
    return message
