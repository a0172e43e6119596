"""What the CLI prints: rich tables for people, or with --json the protobuf messages as JSON for scripts
(google.protobuf.json_format: proto field names, every field present, enums by name, int64 as strings)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import typer
from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console, RenderableType
from rich.table import Table

from cli.connection import Session

M = TypeVar("M", bound=Message)
# Business days and times are Asia/Shanghai's: UTC+8, without daylight saving since 1991.
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")


def console() -> Console:
    """A console on the current stdout (a test runner swaps it), without colours off a terminal."""
    return Console(highlight=False, soft_wrap=False)


def message_dict(message: Message) -> dict[str, Any]:
    found: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return found


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


Rendered = Sequence[RenderableType | None]  # what a command shows, top to bottom (None: nothing)


def emit(session: Session, message: M, render: Callable[[M], Rendered]) -> None:
    """The message as JSON with --json, else what `render` makes of it."""
    if session.json:
        print_json(message_dict(message))
        return
    out = console()
    for part in render(message):
        if part is not None:
            out.print(part)


# --- values as people read them


def money(minor: int) -> str:
    """Fen as yuan: 1590 -> ¥15.90."""
    sign = "-" if minor < 0 else ""
    return f"{sign}¥{abs(minor) // 100}.{abs(minor) % 100:02d}"


def fen(text: str | int) -> int:
    """A yuan amount typed by a person ("15.9", "15.90", "16") in fen; BadParameter otherwise. (The option's
    default, already in fen, comes through here too.)"""
    if isinstance(text, int):
        return text
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not an amount in yuan (e.g. 15.90)") from None
    minor = amount * 100
    if not amount.is_finite() or amount < 0 or minor != minor.to_integral_value():
        raise typer.BadParameter(f"{text!r} is not an amount in yuan with at most two decimals")
    return int(minor)


def moment(stamp: Timestamp) -> str:
    """A timestamp in China time, to the second; '' when unset (the epoch)."""
    if not stamp.seconds and not stamp.nanos:
        return ""
    return stamp.ToDatetime(tzinfo=UTC).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or time; without an offset it is China time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time (e.g. 2026-06-18T00:00 or 2026-06-18)") from None
    return value if value.tzinfo else value.replace(tzinfo=CHINA_TIME)


def label(enum: EnumDescriptor, value: int) -> str:
    """An enum value by its name without the enum's prefix, in lower case: GROUP_STATE_OPEN -> open."""
    found = enum.values_by_number.get(value)
    if found is None:
        return str(value)
    prefix = _common_prefix([item.name for item in enum.values])
    return found.name.removeprefix(prefix).lower()


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
    return first[: first.rfind("_", 0, size) + 1]


def share(value: float) -> str:
    return f"{value * 100:.1f}%"


def yes(flag: bool) -> str:
    return "yes" if flag else ""


# --- tables


def table(title: str | None, *columns: str) -> Table:
    result = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        result.add_column(column, overflow="fold")
    return result


def details(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    """One record as field / value rows; empty values are left out."""
    result = Table(title=title, title_justify="left", show_header=False)
    result.add_column("field", style="bold")
    result.add_column("value", overflow="fold")
    for name, value in rows:
        if value not in ("", None):
            result.add_row(name, str(value))
    return result


def next_page(token: str) -> str | None:
    """The line telling how to ask for the next page, when there is one."""
    return f"more: --page-token {token}" if token else None
