"""Page tokens for keyset pagination: opaque to clients, signed by the service that issued them, and bound
to the listing they came from (its filters, its owner).

A token is the unpadded base64url of a format byte, the position (JSON) and an HMAC-SHA256 tag over the
format, the issuing service, the listing's scope and the position, under the deployment's page-token key.
A client can neither forge a position nor move a token to another listing or service: a tag that does not
check is INVALID_PAGE_TOKEN. A position whose tag checks is still range-checked against its shape (what
the columns it is compared with can hold), so even a token signed with a leaked key fails as a bad token,
never inside the database.

The key file holds one hex-encoded key (at least 32 bytes) per line: the first signs, every one checks.
A key is rotated by putting the new one on top and dropping the old one a little later (a token lives as
long as a client pages through one listing); tokens signed by a dropped key are refused like forged ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from libs.core.errors import FieldViolation, InvalidArgument

FORMAT = 1  # the first byte of every token: a new layout gets a new number
TAG_BYTES = 32
KEY_BYTES = 32
MAX_KEYS = 4  # the signing key and the ones still accepted: each one costs an HMAC per refused token
MAX_TOKEN_LENGTH = 1024
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
P = TypeVar("P", bound=tuple[Any, ...])


class Part(Protocol[T]):
    """One element of a position: how it is written into a token, and read back refusing (ValueError)
    whatever the column it is compared with cannot hold."""

    def dump(self, value: T, /) -> int | str: ...

    def load(self, raw: object, /) -> T: ...


@dataclass(frozen=True, slots=True)
class Integer:
    """An integer column's value within [minimum, maximum]: int4 or int8 limits, or a tighter rule."""

    minimum: int
    maximum: int

    def dump(self, value: int) -> int:
        return value

    def load(self, raw: object) -> int:
        if type(raw) is not int or not self.minimum <= raw <= self.maximum:  # type(): a bool is no integer here
            raise ValueError("an integer out of range")
        return raw


@dataclass(frozen=True, slots=True)
class Text:
    """A text column's value, matching `pattern` in full (which bounds its length too)."""

    pattern: re.Pattern[str]

    def dump(self, value: str) -> str:
        return value

    def load(self, raw: object) -> str:
        if type(raw) is not str or self.pattern.fullmatch(raw) is None:
            raise ValueError("not a text of this position")
        return raw


@dataclass(frozen=True, slots=True)
class Moment:
    """A timestamptz value, carried as whole microseconds since 1970 UTC (what Postgres keeps, so the keyset
    compares exactly) and read back in UTC within [earliest, latest]: never an instant that Python or
    Postgres cannot represent, whatever the offset a forger would have liked."""

    earliest: datetime = EPOCH
    latest: datetime = datetime(9999, 1, 1, tzinfo=UTC)

    def dump(self, value: datetime) -> int:
        return (value - EPOCH) // MICROSECOND

    def load(self, raw: object) -> datetime:
        if type(raw) is not int or not self.dump(self.earliest) <= raw <= self.dump(self.latest):
            raise ValueError("a moment out of range")
        return EPOCH + raw * MICROSECOND


@dataclass(frozen=True, slots=True)
class PageShape(Generic[P]):
    """What the positions of one kind of listing are made of, element by element (see `page_shape`)."""

    parts: tuple[Part[Any], ...]

    def dump(self, position: P) -> list[int | str]:
        return [part.dump(value) for part, value in zip(self.parts, position, strict=True)]

    def load(self, raw: object) -> P:
        if not isinstance(raw, list) or len(raw) != len(self.parts):
            raise ValueError("not a position of this listing")
        return cast(P, tuple(part.load(value) for part, value in zip(self.parts, raw, strict=True)))


@overload
def page_shape(first: Part[A], second: Part[B], /) -> PageShape[tuple[A, B]]: ...
@overload
def page_shape(first: Part[A], second: Part[B], third: Part[C], /) -> PageShape[tuple[A, B, C]]: ...
def page_shape(*parts: Part[Any]) -> PageShape[Any]:
    """The shape of positions made of `parts`, in sort-key order; typed, so decoding gives typed values."""
    return PageShape(parts)


class PageTokens:
    """The page tokens of one service: signed with its deployment's first key, checked against each key.
    The service's name is signed too, so a token works for no other service's listing of the same scope."""

    def __init__(self, keys: Sequence[bytes], *, service: str):
        if not 1 <= len(keys) <= MAX_KEYS or any(len(key) < KEY_BYTES for key in keys):
            raise ValueError(f"page tokens need 1 to {MAX_KEYS} keys of at least {KEY_BYTES} bytes")
        self._keys = tuple(keys)
        self._service = service.encode()

    @classmethod
    def from_file(cls, path: Path, *, service: str) -> PageTokens:
        return cls(read_page_token_keys(path), service=service)

    def encode(self, shape: PageShape[P], position: P, *, scope: str) -> str:
        """The token of the page after `position` (the sort key of the last row shown) of the listing `scope`."""
        body = bytes([FORMAT]) + json.dumps(shape.dump(position), ensure_ascii=False, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body + self._tag(self._keys[0], body, scope)).decode().rstrip("=")

    def decode(self, shape: PageShape[P], token: str, *, scope: str) -> P:
        """The position a token of the listing `scope` names; InvalidArgument (INVALID_PAGE_TOKEN) otherwise."""
        raw = _unwrap(token)
        if raw is None or len(raw) <= 1 + TAG_BYTES or raw[0] != FORMAT:
            raise _refused("is not a page token")
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if not any(hmac.compare_digest(tag, self._tag(key, body, scope)) for key in self._keys):
            raise _refused("is not a page token of this listing")
        try:
            return shape.load(json.loads(body[1:]))
        except ValueError:  # malformed JSON, undecodable text, or a value out of its column's range
            raise _refused("names no position of this listing") from None

    def _tag(self, key: bytes, body: bytes, scope: str) -> bytes:
        # Each field length-prefixed, so no two (service, scope, body) triples sign the same bytes.
        fields = (self._service, scope.encode(), body)
        message = b"".join(len(field).to_bytes(4, "big") + field for field in fields)
        return hmac.new(key, message, hashlib.sha256).digest()


def _unwrap(token: str) -> bytes | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        return None


def _refused(description: str) -> InvalidArgument:
    return InvalidArgument(
        f"page_token {description}", reason="INVALID_PAGE_TOKEN", violations=[FieldViolation("page_token", description)]
    )


def read_page_token_keys(path: Path) -> tuple[bytes, ...]:
    """The keys of a page-token key file, the signing key first; ValueError saying what is wrong (never
    showing a key)."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} cannot be read: {type(error).__name__}") from None
    if not 1 <= len(lines) <= MAX_KEYS:
        raise ValueError(f"{path} must hold 1 to {MAX_KEYS} keys, one per line")
    keys = []
    for number, line in enumerate(lines, start=1):
        try:
            key = bytes.fromhex(line)
        except ValueError:
            raise ValueError(f"{path}: key {number} is not hexadecimal") from None
        if len(key) < KEY_BYTES:
            raise ValueError(f"{path}: key {number} is shorter than {KEY_BYTES} bytes ({2 * KEY_BYTES} hex digits)")
        keys.append(key)
    return tuple(keys)


def make_page_token_key(path: Path) -> Path:
    """A key file at `path` holding one fresh random key, readable by its owner only; one already there is
    kept (its tokens stay valid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_hex(KEY_BYTES) + "\n")
    return path
