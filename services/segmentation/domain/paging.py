"""Page tokens for member listings: opaque to clients, bound to one segment version, so every page of
one listing is evaluated against the same rule even if the segment is redefined meanwhile."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from libs.core import FieldViolation, InvalidArgument


@dataclass(frozen=True, slots=True)
class PageToken:
    segment_id: str
    version: int
    after_number: int

    def encode(self) -> str:
        raw = json.dumps([self.segment_id, self.version, self.after_number], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, segment_id: str) -> PageToken:
        try:
            padded = token + "=" * (-len(token) % 4)
            value = json.loads(base64.urlsafe_b64decode(padded.encode()))
            decoded_segment, version, after = value
            if not (isinstance(version, int) and isinstance(after, int) and version > 0 and after >= 0):
                raise ValueError("out of range")
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise _bad_token("is not a page token of this listing") from None
        if decoded_segment != segment_id:
            raise _bad_token("belongs to another segment's listing")
        return cls(segment_id, version, after)


def _bad_token(description: str) -> InvalidArgument:
    return InvalidArgument(
        f"page_token {description}",
        reason="INVALID_PAGE_TOKEN",
        violations=[FieldViolation("page_token", description)],
    )
