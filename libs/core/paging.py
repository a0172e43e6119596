"""Page tokens for keyset pagination: opaque to clients, and bound to the listing they came from (its
filters, its owner), so a token replayed against another listing is refused instead of skipping rows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence

from libs.core.errors import FieldViolation, InvalidArgument

Position = Sequence[str | int]


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def encode_page_token(position: Position, *, scope: str) -> str:
    """A token for the page after `position` (the sort key of the last row shown) of the listing `scope`."""
    raw = json.dumps([_digest(scope), *position], ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, *, scope: str, shape: Sequence[type[str] | type[int]]) -> list[str | int]:
    """The position a token of the listing `scope` names; InvalidArgument (INVALID_PAGE_TOKEN) otherwise."""
    try:
        padded = token + "=" * (-len(token) % 4)
        digest, *position = json.loads(base64.urlsafe_b64decode(padded.encode()))
        well_formed = len(position) == len(shape) and all(
            type(value) is kind for value, kind in zip(position, shape, strict=True)
        )
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad_page_token("is not a page token") from None
    if not well_formed:
        raise bad_page_token("is not a page token")
    if digest != _digest(scope):
        raise bad_page_token("belongs to another listing")
    return list(position)


def bad_page_token(description: str = "is not a page token") -> InvalidArgument:
    """The error for a token that decodes but names no position of its listing (callers check their own
    position values too)."""
    return InvalidArgument(
        f"page_token {description}", reason="INVALID_PAGE_TOKEN", violations=[FieldViolation("page_token", description)]
    )
