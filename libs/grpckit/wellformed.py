"""What every request must be, whatever its method, checked at the edge before its own validator runs:
text that PostgreSQL can store and a log line can show (no NUL, no other C0/C1 control character; line
breaks and tabs only in the fields a service names as multi-line free text), no text longer than
MAX_TEXT_LENGTH characters, and enum values that exist. Every string and enum field is checked, nested
messages, repeated fields and map keys and values included, so a field added to a proto is covered the
day it is added. Each field's own limits (tighter lengths, ranges, formats) stay in its validator.

Invalid UTF-8 never gets this far: protobuf refuses it while decoding (MALFORMED_REQUEST)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from libs.core import FieldViolation, InvalidArgument

# Generous for any text field (the longest the platform stores, a product description, is 2000); each
# validator sets the field's own, tighter limit.
MAX_TEXT_LENGTH = 4096
MAX_REPORTED = 20  # violations listed in one answer; the rest would only repeat the lesson
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# A message's plan is a tuple of steps (kind, field name, what the kind needs): the pattern of refused
# characters (text), the values that exist (enum), the nested plan (message), a _Map (map). Plain tuples:
# this runs on every call, and unpacking one is cheaper than reading attributes.
_TEXT, _TEXTS, _ENUM, _ENUMS, _MESSAGE, _MESSAGES, _MAP = range(7)
_Step = tuple[int, str, Any]
_Plan = tuple[_Step, ...]


@dataclass(frozen=True, slots=True)
class _Map:
    key_control: re.Pattern[str] | None  # a string key's refused characters
    value_control: re.Pattern[str] | None  # a string value's
    value_allowed: frozenset[int] | None  # an enum value's values
    value_plan: _Plan  # a message value's plan


class WellFormed:
    """The check, with a plan per message type made on its first request: only the fields that can be
    wrong (strings, enums, and messages holding them), so a call pays for those and nothing else."""

    def __init__(self, *, multiline_fields: Collection[str] = ()):
        """`multiline_fields`: full names (`package.Message.field`) of free-text fields where line breaks
        and tabs are allowed, e.g. a product's description."""
        pool = descriptor_pool.Default()
        for name in multiline_fields:
            pool.FindFieldByName(name)  # a misspelt name fails at start, not silently
        self._multiline = frozenset(multiline_fields)
        self._plans: dict[str, _Plan] = {}  # by message name, while plans are made
        self._by_class: dict[type, _Plan] = {}  # by message class: what a call looks up

    def check(self, request: Any) -> None:
        plan = self._by_class.get(type(request))
        if plan is None:
            if not isinstance(request, Message):
                return
            plan = self._by_class[type(request)] = self._known_plan(request.DESCRIPTOR)
        found: list[FieldViolation] = []
        _walk(plan, request, "", found)
        if found:
            del found[MAX_REPORTED:]
            summary = "; ".join(f"{v.field} {v.description}" for v in found)
            raise InvalidArgument(f"invalid request: {summary}", reason="INVALID_ARGUMENT", violations=found)

    def _plan(self, descriptor: Descriptor | Any) -> _Plan:  # Any: upb's own Descriptor type
        self._plans[descriptor.full_name] = ()  # a message that holds itself ends the recursion here
        plan = tuple(step for field in descriptor.fields if (step := self._step(field)) is not None)
        self._plans[descriptor.full_name] = plan
        return plan

    def _step(self, field: FieldDescriptor) -> _Step | None:
        if field.type == FieldDescriptor.TYPE_STRING:
            return (_TEXTS if field.is_repeated else _TEXT, field.name, self._control(field))
        if field.type == FieldDescriptor.TYPE_ENUM:
            return (_ENUMS if field.is_repeated else _ENUM, field.name, _values(field))
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            return None
        entry = field.message_type
        assert entry is not None  # a message field has a message type
        if entry.GetOptions().map_entry:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            checks = _Map(
                key_control=_CONTROL if key.type == FieldDescriptor.TYPE_STRING else None,
                value_control=self._control(field) if value.type == FieldDescriptor.TYPE_STRING else None,
                value_allowed=_values(value) if value.type == FieldDescriptor.TYPE_ENUM else None,
                value_plan=self._known_plan(value.message_type) if value.message_type is not None else (),
            )
            needed = checks.key_control or checks.value_control or checks.value_allowed or checks.value_plan
            return (_MAP, field.name, checks) if needed else None
        plan = self._known_plan(entry)
        if not plan:
            return None  # e.g. a Timestamp: nothing in it is text or an enum
        return (_MESSAGES if field.is_repeated else _MESSAGE, field.name, plan)

    def _known_plan(self, descriptor: Descriptor | Any) -> _Plan:
        plan = self._plans.get(descriptor.full_name)
        return self._plan(descriptor) if plan is None else plan

    def _control(self, field: FieldDescriptor) -> re.Pattern[str]:
        return _CONTROL_BUT_LINE_BREAKS if field.full_name in self._multiline else _CONTROL


def _values(field: FieldDescriptor) -> frozenset[int]:
    assert field.enum_type is not None  # an enum field has an enum type
    return frozenset(field.enum_type.values_by_number)


def _text_problem(value: str, control: re.Pattern[str]) -> str | None:
    """What is wrong with a text, or None. The walk calls this only for a text too long or not
    isprintable(), which is true of most text and much cheaper than the pattern (false for a control
    character, but also for an ideographic space, which is fine)."""
    if len(value) > MAX_TEXT_LENGTH:
        return f"is longer than {MAX_TEXT_LENGTH} characters"
    if (bad := control.search(value)) is not None:
        return f"holds a control character (U+{ord(bad.group()):04X})"
    return None


def _unknown(value: int) -> str:
    return f"has an unknown value {value}"


def _walk(plan: _Plan, message: Any, prefix: str, found: list[FieldViolation]) -> None:
    for kind, name, needs in plan:
        value = getattr(message, name)
        if kind == _TEXT:
            if value and (len(value) > MAX_TEXT_LENGTH or not value.isprintable()):
                _add(found, prefix + name, _text_problem(value, needs))
        elif kind == _ENUM:
            if value not in needs:
                found.append(FieldViolation(prefix + name, _unknown(value)))
        elif kind == _MESSAGE:
            if message.HasField(name):
                _walk(needs, value, f"{prefix}{name}.", found)
        elif kind == _TEXTS:
            for index, text in enumerate(value):
                if len(text) > MAX_TEXT_LENGTH or not text.isprintable():
                    _add(found, f"{prefix}{name}[{index}]", _text_problem(text, needs))
                    if len(found) >= MAX_REPORTED:
                        return
        elif kind == _ENUMS:
            for index, number in enumerate(value):
                if number not in needs:
                    found.append(FieldViolation(f"{prefix}{name}[{index}]", _unknown(number)))
                    if len(found) >= MAX_REPORTED:
                        return
        elif kind == _MESSAGES:
            for index, item in enumerate(value):
                if len(found) >= MAX_REPORTED:
                    return
                _walk(needs, item, f"{prefix}{name}[{index}].", found)
        else:
            _walk_map(needs, value, prefix + name, found)


def _walk_map(checks: _Map, entries: Any, path: str, found: list[FieldViolation]) -> None:
    for key, value in entries.items():
        if len(found) >= MAX_REPORTED:
            return
        if checks.key_control is not None and (problem := _text_problem(key, checks.key_control)) is not None:
            found.append(FieldViolation(path, f"has a key that {problem}"))
            continue  # a key that cannot be shown cannot name its entry either
        entry = f"{path}[{key}]"
        if checks.value_control is not None:
            _add(found, entry, _text_problem(value, checks.value_control))
        elif checks.value_allowed is not None:
            if value not in checks.value_allowed:
                found.append(FieldViolation(entry, _unknown(value)))
        else:
            _walk(checks.value_plan, value, f"{entry}.", found)


def _add(found: list[FieldViolation], path: str, problem: str | None) -> None:
    if problem is not None:
        found.append(FieldViolation(path, problem))
