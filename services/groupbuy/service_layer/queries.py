"""Reads: a group with its seats, a SKU's open groups, a user's groups."""

from __future__ import annotations

from libs.core import NotFound
from services.groupbuy.domain.model import Group, Seat, SeatState
from services.groupbuy.domain.paging import OpenGroupsPage, UserGroupsPage
from services.groupbuy.service_layer.context import Context


async def group_with_seats(context: Context, group_id: str) -> tuple[Group, list[Seat]]:
    repository = context.repository
    group = await repository.group(group_id)
    if group is None:
        raise NotFound(f"no group {group_id}", reason="GROUP_NOT_FOUND")
    members = await repository.seats([group_id], states=[SeatState.HELD, SeatState.PAID])
    return group, members


async def open_groups(context: Context, *, sku_id: str, after: OpenGroupsPage | None, limit: int) -> list[Group]:
    return await context.repository.open_groups(sku_id=sku_id, now=context.clock(), after=after, limit=limit)


async def user_groups(
    context: Context, *, user_id: str, after: UserGroupsPage | None, limit: int
) -> list[tuple[Seat, Group]]:
    return await context.repository.user_seats(user_id=user_id, after=after, limit=limit)
