"""SearchListings' page tokens are signed and range-checked: a forged, tampered or borrowed token is
INVALID_ARGUMENT (INVALID_PAGE_TOKEN, naming page_token) and never reaches the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from pingou.catalog.v1 import catalog_pb2 as pb

from libs.auth import Role
from libs.core import BusinessLine
from libs.core.paging import PageTokens
from services.catalog.bootstrap import NAME
from services.catalog.entrypoints.mapping import SEARCH_PAGE, search_scope
from tests.integration.catalog.conftest import PROTO_LINE, Catalog
from tests.support.page_tokens import another_key, random_token, refused_as_bad_page_token, tampered, unsigned

pytestmark = pytest.mark.infra
MALL = BusinessLine.MALL
SKU = "sku-yiwu-goods-1-1"
FORGERIES = [
    "unsigned, a price beyond bigint",
    "random bytes",
    "tampered",
    "another search's",
    "another service's",
    "another key's",
    "signed, a price beyond bigint",
    "signed, a price of 0",
    "signed, no SKU id",
]


def _search(*, belt_id: str = "", page_token: str = "") -> pb.SearchListingsRequest:
    return pb.SearchListingsRequest(line=PROTO_LINE[MALL], page_size=2, belt_id=belt_id, page_token=page_token)


async def test_the_servers_tokens_are_the_ones_these_tests_sign(catalog: Catalog, page_token_key: Path) -> None:
    # The signed forgeries below differ from real tokens only in the position they carry.
    first = await catalog.stub.SearchListings(_search(), metadata=catalog.token(MALL, Role.USER))
    ours = PageTokens.from_file(page_token_key, service=NAME)
    price, sku_id = ours.decode(SEARCH_PAGE, first.next_page_token, scope=search_scope(_search()))
    assert sku_id == first.listings[-1].sku_id
    again = ours.encode(SEARCH_PAGE, (price, sku_id), scope=search_scope(_search()))
    rest = await catalog.stub.SearchListings(_search(page_token=again), metadata=catalog.token(MALL, Role.USER))
    assert rest.listings
    assert rest.listings[0].sku_id not in {listing.sku_id for listing in first.listings}


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_search_page_token_is_invalid_argument(
    catalog: Catalog, page_token_key: Path, forgery: str
) -> None:
    metadata = catalog.token(MALL, Role.USER)
    scope = search_scope(_search())
    ours = PageTokens.from_file(page_token_key, service=NAME)
    first = await catalog.stub.SearchListings(_search(), metadata=metadata)
    bags = await catalog.stub.SearchListings(_search(belt_id="baigou-bags"), metadata=metadata)
    assert first.next_page_token
    assert bags.next_page_token
    token = {
        "unsigned, a price beyond bigint": unsigned([2**70, SKU], scope=scope),
        "random bytes": random_token(),
        "tampered": tampered(first.next_page_token),
        "another search's": bags.next_page_token,
        "another service's": PageTokens.from_file(page_token_key, service="order").encode(
            SEARCH_PAGE, (100, SKU), scope=scope
        ),
        "another key's": another_key(NAME).encode(SEARCH_PAGE, (100, SKU), scope=scope),
        "signed, a price beyond bigint": ours.encode(SEARCH_PAGE, (2**70, SKU), scope=scope),
        "signed, a price of 0": ours.encode(SEARCH_PAGE, (0, SKU), scope=scope),
        "signed, no SKU id": ours.encode(SEARCH_PAGE, (100, "SKU'; --"), scope=scope),
    }[forgery]
    await refused_as_bad_page_token(catalog.stub.SearchListings(_search(page_token=token), metadata=metadata))
