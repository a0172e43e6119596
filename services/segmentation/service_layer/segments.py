"""Use cases of segments: define (versioned), read, evaluate for a user, list members."""

from __future__ import annotations

import asyncpg

from libs.core import Aborted, NotFound
from libs.core.paging import PageTokens
from services.segmentation.domain.model import Segment, SegmentRule, User, check_segment_definition
from services.segmentation.domain.paging import PageToken
from services.segmentation.service_layer.unit_of_work import UnitOfWork
from services.segmentation.service_layer.users import get_user


async def define_segment(
    uow: UnitOfWork, *, segment_id: str, description: str, rule: SegmentRule, created_by: str
) -> Segment:
    check_segment_definition(segment_id, description, rule)
    try:
        return await uow.users.add_segment_version(
            segment_id=segment_id, description=description, rule=rule, created_by=created_by
        )
    except asyncpg.UniqueViolationError:
        # Another definition of the same segment took this version number first.
        raise Aborted(
            f"segment {segment_id} was redefined concurrently; retry", reason="SEGMENT_VERSION_CONFLICT"
        ) from None


async def get_segment(uow: UnitOfWork, segment_id: str, *, version: int | None = None) -> Segment:
    segment = await uow.users.segment(segment_id, version=version)
    if segment is None:
        raise NotFound(f"no segment {segment_id} on the {uow.line} line", reason="SEGMENT_NOT_FOUND")
    return segment


async def list_segments(uow: UnitOfWork) -> list[Segment]:
    """The latest version of each segment of the line, by id."""
    return await uow.users.latest_segments()


async def segments_of_user(uow: UnitOfWork, user_id: str) -> list[Segment]:
    await get_user(uow, user_id)
    return await uow.users.segments_of(user_id, await uow.users.latest_segments())


async def list_members(
    uow: UnitOfWork, *, segment_id: str, page_size: int, page_token: str, tokens: PageTokens
) -> tuple[list[User], str, int]:
    """A page of members, the token of the next page ('' after the last), and the segment version."""
    if page_token:
        position = PageToken.decode(tokens, page_token, segment_id=segment_id)
        segment = await get_segment(uow, segment_id, version=position.version)
    else:
        segment = await get_segment(uow, segment_id)
        position = PageToken(segment_id, segment.version, 0)
    rows = await uow.users.segment_members(segment, after_number=position.after_number, limit=page_size + 1)
    page, more = rows[:page_size], len(rows) > page_size
    next_token = PageToken(segment_id, segment.version, page[-1][0]).encode(tokens) if more else ""
    return [user for _, user in page], next_token, segment.version
