"""Request validation at the catalog's edge: shape only (ids, ranges, enums). Whether a SKU exists, is
listed or has stock, and who may call, are decided behind it; a listing's prices and rule are checked by
the domain (`Prices.violations`). Every request has passed libs.grpckit.wellformed first (no control
characters, no text over its generic cap, no unknown enum value)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pingou.catalog.v1 import catalog_pb2 as pb

from libs.convert import LINE_FROM_PROTO
from libs.core.ids import REFERENCE_ID
from libs.core.orders import MAX_PAYMENT_MINOR
from libs.grpckit import Violations
from libs.grpckit.validation import Validator, nothing_to_validate
from services.catalog.domain import model

SERVICE = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name
MAX_BATCH = 100
MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 100, 20
MAX_STOCK = 10_000_000
DEFAULT_HOLD_SECONDS = 1200
# A group order keeps its stock until the group ends: a 7-day window at most, plus a day of margin.
MAX_HOLD_SECONDS = 8 * 86400
URL = re.compile(r"^https://[^\s]{1,500}$")
# Free text, where line breaks are words too: a product's description.
MULTILINE_FIELDS = (pb.CreateProductRequest.DESCRIPTOR.fields_by_name["description"].full_name,)


def _line(problems: Violations, value: int) -> None:
    problems.enum("line", value, allowed=LINE_FROM_PROTO)


def _reference(problems: Violations, field: str, value: str, *, required: bool = True) -> None:
    if (value or required) and not REFERENCE_ID.match(value):
        problems.add(field, "is required" if not value else "is not an id (lower-case letters, digits, '-')")


def _ids(problems: Violations, field: str, values: list[str]) -> None:
    if not 1 <= len(values) <= MAX_BATCH:
        problems.add(field, f"must name 1 to {MAX_BATCH} ids")
    for index, value in enumerate(values):
        _reference(problems, f"{field}[{index}]", value)


def _attributes(problems: Violations, field: str, attributes: Mapping[str, str]) -> None:
    if len(attributes) > model.MAX_ATTRIBUTES:
        problems.add(field, f"has more than {model.MAX_ATTRIBUTES} entries")
    for key, value in attributes.items():
        if not 0 < len(key) <= 32 or len(value) > 200:
            problems.add(f"{field}[{key[:32]}]", "keys are 1 to 32 characters, values at most 200")


def validate_create_product(request: pb.CreateProductRequest) -> None:
    problems = Violations()
    _reference(problems, "merchant_id", request.merchant_id)
    _reference(problems, "category_id", request.category_id)
    _reference(problems, "belt_id", request.belt_id, required=False)
    problems.text("title", request.title, max_length=model.MAX_TITLE_LENGTH)
    problems.text("description", request.description, min_length=0, max_length=model.MAX_DESCRIPTION_LENGTH)
    if len(request.image_urls) > model.MAX_IMAGES:
        problems.add("image_urls", f"has more than {model.MAX_IMAGES} entries")
    for index, url in enumerate(request.image_urls):
        if not URL.match(url):
            problems.add(f"image_urls[{index}]", "is not an https URL")
    _attributes(problems, "attributes", request.attributes)
    if not 1 <= len(request.skus) <= model.MAX_SKUS_PER_PRODUCT:
        problems.add("skus", f"must hold 1 to {model.MAX_SKUS_PER_PRODUCT} SKUs")
    for index, sku in enumerate(request.skus):
        problems.text(f"skus[{index}].title", sku.title, max_length=60)
        _attributes(problems, f"skus[{index}].attributes", sku.attributes)
        if sku.image_url and not URL.match(sku.image_url):
            problems.add(f"skus[{index}].image_url", "is not an https URL")
    problems.raise_if_any()


def validate_get_products(request: pb.GetProductsRequest) -> None:
    problems = Violations()
    _ids(problems, "product_ids", list(request.product_ids))
    problems.raise_if_any()


def validate_upsert_listing(request: pb.UpsertListingRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    if request.WhichOneof("price") is None:
        problems.add("price", "give mall or pingou prices")
    problems.raise_if_any()


def validate_line_and_sku(request: Any) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    problems.raise_if_any()


def validate_get_listings(request: pb.GetListingsRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _ids(problems, "sku_ids", list(request.sku_ids))
    problems.raise_if_any()


def validate_search(request: pb.SearchListingsRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    problems.text("query", request.query, min_length=0, max_length=50)
    _reference(problems, "category_id", request.category_id, required=False)
    _reference(problems, "belt_id", request.belt_id, required=False)
    # No listing is priced above what one payment may be, so no filter needs to go further.
    problems.number("min_price_minor", request.min_price_minor, minimum=0, maximum=MAX_PAYMENT_MINOR)
    problems.number("max_price_minor", request.max_price_minor, minimum=0, maximum=MAX_PAYMENT_MINOR)
    if request.max_price_minor and request.max_price_minor < request.min_price_minor:
        problems.add("max_price_minor", "is below min_price_minor")
    problems.number("page_size", request.page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", request.page_token, min_length=0, max_length=200)
    problems.raise_if_any()


def validate_list_merchants(request: pb.ListMerchantsRequest) -> None:
    problems = Violations()
    _reference(problems, "belt_id", request.belt_id, required=False)
    problems.number("page_size", request.page_size, minimum=0, maximum=MAX_PAGE_SIZE)
    problems.text("page_token", request.page_token, min_length=0, max_length=200)
    problems.raise_if_any()


def validate_set_stock(request: pb.SetStockRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    problems.number("available", request.available, minimum=0, maximum=MAX_STOCK)
    problems.raise_if_any()


def _order_id(problems: Violations, value: str) -> None:
    problems.text("order_id", value, max_length=64)
    if value and not re.match(r"^[A-Za-z0-9_-]+$", value):
        problems.add("order_id", "may hold only letters, digits, '_' and '-'")


def validate_reserve(request: pb.ReserveStockRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _order_id(problems, request.order_id)
    if not 1 <= len(request.items) <= 50:
        problems.add("items", "must hold 1 to 50 items")
    skus = [item.sku_id for item in request.items]
    if len(set(skus)) != len(skus):
        problems.add("items", "names a SKU twice")
    for index, item in enumerate(request.items):
        _reference(problems, f"items[{index}].sku_id", item.sku_id)
        problems.number(f"items[{index}].quantity", item.quantity, minimum=1, maximum=999)
    if request.hold_seconds:
        problems.number("hold_seconds", request.hold_seconds, minimum=60, maximum=MAX_HOLD_SECONDS)
    problems.raise_if_any()


def validate_reservation(request: pb.ReservationRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _order_id(problems, request.order_id)
    problems.raise_if_any()


def validate_lease(request: pb.LeaseStockRequest | pb.ReturnStockRequest) -> None:
    problems = Violations()
    _line(problems, request.line)
    _reference(problems, "sku_id", request.sku_id)
    problems.number("quantity", request.quantity, minimum=1, maximum=model.MAX_LEASE_QUANTITY)
    problems.identifier("lease_id", request.lease_id)
    problems.raise_if_any()


VALIDATORS: Mapping[str, Validator] = {
    f"/{SERVICE}/ListBelts": nothing_to_validate,
    f"/{SERVICE}/ListCategories": nothing_to_validate,
    f"/{SERVICE}/ListMerchants": validate_list_merchants,
    f"/{SERVICE}/CreateProduct": validate_create_product,
    f"/{SERVICE}/GetProducts": validate_get_products,
    f"/{SERVICE}/UpsertListing": validate_upsert_listing,
    f"/{SERVICE}/RemoveListing": validate_line_and_sku,
    f"/{SERVICE}/GetListings": validate_get_listings,
    f"/{SERVICE}/SearchListings": validate_search,
    f"/{SERVICE}/SetStock": validate_set_stock,
    f"/{SERVICE}/GetStock": validate_line_and_sku,
    f"/{SERVICE}/ReserveStock": validate_reserve,
    f"/{SERVICE}/CommitReservation": validate_reservation,
    f"/{SERVICE}/ReleaseReservation": validate_reservation,
    f"/{SERVICE}/LeaseStock": validate_lease,
    f"/{SERVICE}/ReturnStock": validate_lease,
}
