"""Catalog as groupbuy needs it: the pingou listing of a SKU (GetListings) as the terms a group opens
with, cached briefly; and stock leased in blocks for the allotment joins take their units from
(LeaseStock, idempotent by the lease id, so retried on UNAVAILABLE)."""

from __future__ import annotations

from datetime import timedelta

import grpc
from cachetools import TTLCache
from pingou.catalog.v1 import catalog_pb2 as catalog_pb
from pingou.catalog.v1 import catalog_pb2_grpc as catalog_grpc
from pingou.common.v1 import common_pb2

from libs.auth import ServiceCredentials
from libs.core import BusinessLine, FailedPrecondition, NotFound, Unavailable
from libs.grpckit import open_channel
from services.groupbuy.domain.model import GroupTerms, leader_price

CATALOG_SERVICE = catalog_pb.DESCRIPTOR.services_by_name["CatalogService"].full_name
GET_LISTINGS = f"{CATALOG_SERVICE}/GetListings"
LEASE_STOCK = f"{CATALOG_SERVICE}/LeaseStock"
DEADLINE_SECONDS = 2.0
CACHED_LISTINGS = 50_000


def open_catalog_channel(address: str) -> grpc.aio.Channel:
    return open_channel(address, idempotent_methods=[GET_LISTINGS, LEASE_STOCK], default_timeout=DEADLINE_SECONDS)


def terms_from_listing(listing: catalog_pb.Listing) -> GroupTerms:
    prices = listing.pingou
    rule = prices.rule
    return GroupTerms(
        sku_id=listing.sku_id,
        size=rule.size,
        window=timedelta(minutes=rule.window_minutes),
        group_price_minor=prices.group_price_minor,
        leader_price_minor=leader_price(prices.group_price_minor, prices.leader_price_minor, rule.leader_free),
        per_user_limit=rule.per_user_limit,
        new_user_only=rule.new_user_only,
        plus_only=rule.plus_only,
        strangers_can_join=rule.strangers_can_join,
        auto_match=rule.auto_match,
    )


class CatalogListings:
    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials, *, cache_seconds: float):
        self._stub = catalog_grpc.CatalogServiceStub(channel)
        self._credentials = credentials
        self._cache: TTLCache[str, GroupTerms | None] = TTLCache(maxsize=CACHED_LISTINGS, ttl=cache_seconds)

    async def group_terms(self, sku_id: str) -> GroupTerms:
        if sku_id in self._cache:
            terms = self._cache[sku_id]
        else:
            terms = self._cache[sku_id] = await self._load(sku_id)
        if terms is None:
            raise NotFound(f"SKU {sku_id} has no active pingou listing", reason="NOT_LISTED")
        return terms

    async def _load(self, sku_id: str) -> GroupTerms | None:
        try:
            reply = await self._stub.GetListings(
                catalog_pb.GetListingsRequest(line=common_pb2.BUSINESS_LINE_PINGOU, sku_ids=[sku_id]),
                metadata=self._credentials.metadata(BusinessLine.PINGOU),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("catalog did not answer; retry", reason="CATALOG_UNAVAILABLE") from None
            raise
        for listing in reply.listings:
            if listing.sku_id == sku_id and listing.active and listing.WhichOneof("price") == "pingou":
                if not listing.pingou.rule.size:
                    raise FailedPrecondition(f"SKU {sku_id} has no group rule", reason="NO_GROUP_RULE")
                return terms_from_listing(listing)
        return None


class CatalogStock:
    """Leases of pingou stock, granted by catalog (up to what is asked; 0 when nothing is left)."""

    def __init__(self, channel: grpc.aio.Channel, credentials: ServiceCredentials):
        self._stub = catalog_grpc.CatalogServiceStub(channel)
        self._credentials = credentials

    async def lease(self, *, sku_id: str, quantity: int, lease_id: str) -> int:
        try:
            reply = await self._stub.LeaseStock(
                catalog_pb.LeaseStockRequest(
                    line=common_pb2.BUSINESS_LINE_PINGOU, sku_id=sku_id, quantity=quantity, lease_id=lease_id
                ),
                metadata=self._credentials.metadata(BusinessLine.PINGOU),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                raise FailedPrecondition(
                    f"catalog leases no stock of {sku_id}: {error.details()}", reason="NOT_LISTED"
                ) from None
            raise Unavailable(
                f"catalog did not lease stock ({error.code().name}); retry", reason="CATALOG_UNAVAILABLE"
            ) from None
        return int(reply.quantity)
