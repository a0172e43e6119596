"""Page tokens for member listings, bound to one segment version, so every page of one listing is
evaluated against the same rule even if the segment is redefined meanwhile (signed by libs.core.paging)."""

from __future__ import annotations

from dataclasses import dataclass

from libs.core.paging import INT4_MAX, INT8_MAX, Integer, PageTokens, page_shape

# (segment version: a positive int4, user number after which the page starts: a bigint, 0 before the first)
MEMBERS_PAGE = page_shape(Integer(1, INT4_MAX), Integer(0, INT8_MAX))


@dataclass(frozen=True, slots=True)
class PageToken:
    segment_id: str
    version: int
    after_number: int

    def encode(self, tokens: PageTokens) -> str:
        return tokens.encode(MEMBERS_PAGE, (self.version, self.after_number), scope=_scope(self.segment_id))

    @classmethod
    def decode(cls, tokens: PageTokens, token: str, *, segment_id: str) -> PageToken:
        version, after = tokens.decode(MEMBERS_PAGE, token, scope=_scope(segment_id))
        return cls(segment_id, version, after)


def _scope(segment_id: str) -> str:
    return f"segment:{segment_id}"
