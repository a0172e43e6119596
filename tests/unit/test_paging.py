"""Page tokens (libs.core.paging): signed with the deployment's key, bound to their listing and service,
range-checked when read, and their key file checked at start."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.core import InvalidArgument
from libs.core.ids import REFERENCE_ID
from libs.core.paging import (
    CANONICAL_UUID,
    INT4_MAX,
    INT8_MAX,
    MAX_KEYS,
    Integer,
    Moment,
    PageShape,
    PageTokens,
    Text,
    make_page_token_key,
    page_shape,
    read_page_token_keys,
)
from libs.settings import PageTokenKeyFile, SettingsError, load_settings
from services.catalog.bootstrap import CatalogSettings
from services.groupbuy.bootstrap import GroupbuySettings
from services.order.bootstrap import OrderSettings
from services.segmentation.bootstrap import SegmentationSettings

KEY, OTHER_KEY = secrets.token_bytes(32), secrets.token_bytes(32)
TOKENS = PageTokens([KEY], service="catalog")
SEARCH = page_shape(Integer(1, INT8_MAX), Text(REFERENCE_ID))
ORDERS = page_shape(Moment(), Text(re.compile(r"^mo_[a-z2-7]{26}$")))
MEMBERS = page_shape(Integer(1, INT4_MAX), Integer(0, INT8_MAX))
GROUPS = page_shape(Integer(0, 50), Moment(datetime(2000, 1, 1, tzinfo=UTC)), Text(CANONICAL_UUID))
SCOPE = 'search:[1,"","","",null,0,0]'
SHANGHAI = timezone(timedelta(hours=8))
ORDER = "mo_" + "a" * 26


def refused(tokens: PageTokens, shape: PageShape[Any], token: str, *, scope: str = SCOPE) -> str:
    """The description an INVALID_PAGE_TOKEN refusal gives, failing the test if the token is accepted."""
    with pytest.raises(InvalidArgument) as caught:
        tokens.decode(shape, token, scope=scope)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert [violation.field for violation in caught.value.violations] == ["page_token"]
    return caught.value.violations[0].description


def flipped(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_a_token_reads_back_as_the_position_it_was_made_for_and_is_url_safe() -> None:
    token = TOKENS.encode(SEARCH, (129_900, "sku-yiwu-goods-1-1"), scope=SCOPE)
    assert TOKENS.decode(SEARCH, token, scope=SCOPE) == (129_900, "sku-yiwu-goods-1-1")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_a_moment_comes_back_as_the_same_instant_to_the_microsecond_in_utc() -> None:
    created = datetime(2026, 6, 18, 20, 15, 30, 123456, tzinfo=SHANGHAI)
    token = TOKENS.encode(ORDERS, (created, ORDER), scope=SCOPE)
    moment, order_id = TOKENS.decode(ORDERS, token, scope=SCOPE)
    assert (moment, moment.tzinfo, order_id) == (created, UTC, ORDER)


def test_every_changed_byte_of_a_token_is_refused() -> None:
    token = TOKENS.encode(MEMBERS, (3, 1_000_042), scope=SCOPE)
    length = len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in range(length):  # the format byte, the position and the tag alike
        refused(TOKENS, MEMBERS, flipped(token, index))
    refused(TOKENS, MEMBERS, token[:-3])


def test_a_token_of_another_listing_service_or_key_is_refused() -> None:
    token = TOKENS.encode(SEARCH, (100, "sku-1"), scope=SCOPE)
    assert refused(TOKENS, SEARCH, token, scope=SCOPE.replace("1", "2", 1)) == "is not a page token of this listing"
    assert refused(PageTokens([KEY], service="order"), SEARCH, token) == "is not a page token of this listing"
    assert refused(PageTokens([OTHER_KEY], service="catalog"), SEARCH, token) == "is not a page token of this listing"


def test_the_unsigned_format_of_old_is_refused_whatever_it_claims() -> None:
    digest = hashlib.sha256(SCOPE.encode()).hexdigest()[:16]  # anyone could compute it
    old = base64.urlsafe_b64encode(json.dumps([digest, 2**70, "sku-1"]).encode()).decode().rstrip("=")
    assert refused(TOKENS, SEARCH, old) in {"is not a page token", "is not a page token of this listing"}


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "Zm9v", "not-a-token", "页码", "A" * 5000, base64.urlsafe_b64encode(secrets.token_bytes(90)).decode()],
)
def test_garbage_is_refused(token: str) -> None:
    refused(TOKENS, SEARCH, token)


@pytest.mark.parametrize(
    ("shape", "position"),
    [
        (SEARCH, (2**70, "sku-1")),  # beyond bigint
        (SEARCH, (0, "sku-1")),  # no listing has a price of 0
        (SEARCH, (100, "SKU 1; DROP")),  # not a catalog id
        (SEARCH, (100, "s" * 64)),  # longer than any catalog id
        (MEMBERS, (2**40, 0)),  # a version beyond int4
        (MEMBERS, (1, -1)),
        (MEMBERS, (1, 2**63)),  # beyond bigint
        (MEMBERS, (True, 5)),  # a bool is no version
        (ORDERS, (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14))), ORDER)),
        (ORDERS, (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), ORDER)),
        (ORDERS, (datetime(1969, 12, 31, 23, 59, tzinfo=UTC), ORDER)),  # before the earliest
        (ORDERS, (datetime(2026, 1, 1, tzinfo=UTC), "mrf_" + "a" * 26)),  # a refund's id, not an order's
        (GROUPS, (51, datetime(2026, 1, 1, tzinfo=UTC), "9b0c3c86-3f5e-4a55-9f0e-0a4d7d3b1a11")),
        (GROUPS, (3, datetime(1999, 12, 31, tzinfo=UTC), "9b0c3c86-3f5e-4a55-9f0e-0a4d7d3b1a11")),
        (GROUPS, (3, datetime(2026, 1, 1, tzinfo=UTC), "9B0C3C86-3F5E-4A55-9F0E-0A4D7D3B1A11")),
    ],
)
def test_a_correctly_signed_position_beyond_its_columns_is_refused(
    shape: PageShape[Any], position: tuple[object, ...]
) -> None:
    # Signed with the service's own key (as a leaked key would sign it): the tag checks, the range does not.
    token = TOKENS.encode(shape, position, scope=SCOPE)
    assert refused(TOKENS, shape, token) == "names no position of this listing"


def test_a_position_of_another_shape_is_refused() -> None:
    token = TOKENS.encode(MEMBERS, (3, 7), scope=SCOPE)
    refused(TOKENS, GROUPS, token)
    refused(TOKENS, SEARCH, token)


def test_a_new_key_signs_while_the_previous_one_still_reads() -> None:
    old_tokens = PageTokens([KEY], service="catalog")
    rotated = PageTokens([OTHER_KEY, KEY], service="catalog")
    before = old_tokens.encode(SEARCH, (100, "sku-1"), scope=SCOPE)
    assert rotated.decode(SEARCH, before, scope=SCOPE) == (100, "sku-1")
    after = rotated.encode(SEARCH, (200, "sku-2"), scope=SCOPE)
    refused(old_tokens, SEARCH, after)  # signed by the new key, not the old
    refused(PageTokens([OTHER_KEY], service="catalog"), SEARCH, before)  # the old key dropped


def test_a_made_key_file_is_private_kept_on_a_second_call_and_reads_back(tmp_path: Path) -> None:
    path = make_page_token_key(tmp_path / "keys" / "page-token.key")
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert make_page_token_key(path).read_text() == first
    (key,) = read_page_token_keys(path)
    assert len(key) == 32
    token = PageTokens.from_file(path, service="order").encode(MEMBERS, (1, 2), scope=SCOPE)
    assert PageTokens([key], service="order").decode(MEMBERS, token, scope=SCOPE) == (1, 2)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "must hold 1 to"),
        ("zz" * 32, "key 1 is not hexadecimal"),
        ("ab" * 31, "key 1 is shorter than 32 bytes"),
        ("\n".join(["ab" * 32] * (MAX_KEYS + 1)), "must hold 1 to"),
    ],
)
def test_a_bad_key_file_is_refused_at_start_naming_the_variable(
    content: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Paged(BaseSettings):
        model_config = SettingsConfigDict(case_sensitive=False)
        page_token_key_file: PageTokenKeyFile

    path = tmp_path / "page-token.key"
    path.write_text(content)
    monkeypatch.setenv("PAGE_TOKEN_KEY_FILE", str(path))
    with pytest.raises(SettingsError, match=rf"PAGE_TOKEN_KEY_FILE: .*{problem}") as caught:
        load_settings(Paged)
    assert "ab" * 31 not in str(caught.value)  # never a key in a message
    monkeypatch.setenv("PAGE_TOKEN_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(SettingsError, match=r"PAGE_TOKEN_KEY_FILE: .*no such file"):
        load_settings(Paged)


@pytest.mark.parametrize("settings", [CatalogSettings, GroupbuySettings, OrderSettings, SegmentationSettings])
def test_every_service_with_paged_listings_requires_its_page_token_key(settings: type[BaseSettings]) -> None:
    assert settings.model_fields["page_token_key_file"].is_required()
