"""Page tokens for member listings, bound to one segment version, so every page of one listing is
evaluated against the same rule even if the segment is redefined meanwhile (encoded by libs.core.paging)."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.paging import bad_page_token, decode_page_token, encode_page_token


@dataclass(frozen=True, slots=True)
class PageToken:
    segment_id: str
    version: int
    after_number: int

    def encode(self) -> str:
        return encode_page_token([self.version, self.after_number], scope=f"segment:{self.segment_id}")

    @classmethod
    def decode(cls, token: str, *, segment_id: str) -> PageToken:
        version, after = decode_page_token(token, scope=f"segment:{segment_id}", shape=(int, int))
        if not (isinstance(version, int) and isinstance(after, int) and version > 0 and after >= 0):
            raise bad_page_token()
        return cls(segment_id, version, after)
