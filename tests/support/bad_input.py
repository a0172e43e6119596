"""Bad input for every field of a request, generated from its descriptor, and the check that each case is
refused at the edge naming the field and writing nothing.

From a known-good request, each case changes one field (nested, repeated and map fields included) to a
value from {empty, too long, NUL and other control characters, negative, 2**31, 2**63, unknown enum};
everything else stays valid. A field added to a proto gets its cases the day it is added, and a good
request that leaves a field out fails the coverage check, so no field goes untested by accident.

A case is expected to be refused (INVALID_ARGUMENT naming the field, nothing written) unless the RPC's
table says the value is acceptable there (an empty optional filter, a far but real moment): then it may
succeed or fail for a reason of the business, but never with UNKNOWN or INTERNAL, and a refusal as
INVALID_ARGUMENT still has to name the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from libs.grpckit.wellformed import MAX_TEXT_LENGTH

Metadata = list[tuple[str, str]]
Call = Callable[..., Awaitable[Any]]

TOO_LONG = "x" * (MAX_TEXT_LENGTH + 1)
# Put inside the good value (after its first character), so that only the character is wrong.
CONTROLS = {
    "NUL": "\x00",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "line break": "\n",
    "tab": "\t",
}
LINE_BREAKS = ("line break", "tab")  # accepted in multi-line free text
UNKNOWN_ENUM = 99
_INTEGER_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
BROKEN = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)


@dataclass(frozen=True)
class Case:
    path: str  # the field as the server names it: "buyer.shipping_city", "skus[0].title", "attributes"
    kind: str  # "empty", "too long", "NUL", ..., "negative", "2**31", "2**63", "unknown enum"
    field: str  # the field's full name, for the coverage check
    request: Message
    also_named: tuple[str, ...] = ()  # the oneof a member belongs to may be named instead


@dataclass(frozen=True)
class Good:
    """A request every validator accepts, and the caller's metadata to send it with."""

    request: Message
    metadata: Metadata


@dataclass
class Rpc:
    """The table of one RPC: its good requests (several when a oneof has several branches), and which
    (path, kind) may be accepted, beyond line breaks in multi-line fields."""

    call: Call
    good: Sequence[Good]
    accepts: Mapping[str, Collection[str]] = field(default_factory=dict)
    multiline: Collection[str] = ()  # full names of the service's multi-line fields
    # Makes a request new (a fresh idempotency key or payment reference), so that an acceptable case is
    # carried out rather than answered with the good request's first result.
    renew: Callable[[Any], None] | None = None

    def may_accept(self, case: Case) -> bool:
        if case.kind in self.accepts.get(case.path, ()):
            return True
        return case.field in self.multiline and case.kind in LINE_BREAKS


def cases_of(good: Message) -> list[Case]:
    found: list[Case] = []
    _cases(good, good, lambda root: root, "", found)
    return found


def reachable_fields(descriptor: FieldInfo) -> set[str]:
    """Every field a request can hold, however deep, but booleans (no value of one is wrong)."""
    found: set[str] = set()
    seen: set[str] = set()

    def visit(message: FieldInfo) -> None:
        if message.full_name in seen:
            return
        seen.add(message.full_name)
        for item in message.fields:
            if item.type == FieldDescriptor.TYPE_BOOL:
                continue
            found.add(item.full_name)
            if item.message_type is not None and not item.message_type.GetOptions().map_entry:
                visit(item.message_type)

    visit(descriptor)
    return found


async def check_rpc(rpc: Rpc, row_counts: Callable[[], Awaitable[Any]]) -> list[str]:
    """Runs the RPC's good requests, then every generated case: the problems found, one line each."""
    problems: list[str] = []
    covered: set[str] = set()
    refused: list[tuple[Case, Metadata]] = []
    accepted: list[tuple[Case, Metadata]] = []
    for good in rpc.good:
        code, named = await _outcome(rpc.call, good.request, good.metadata)
        if code is grpc.StatusCode.INVALID_ARGUMENT or code in BROKEN:
            problems.append(f"the good request {_show(good.request)} got {code.name} {sorted(named)}")
        for case in cases_of(good.request):
            covered.add(case.field)
            (accepted if rpc.may_accept(case) else refused).append((case, good.metadata))
    descriptor = rpc.good[0].request.DESCRIPTOR
    missing = reachable_fields(descriptor) - covered
    if missing:
        problems.append(f"no good request of {descriptor.name} sets {sorted(missing)}: they get no cases")

    before = await row_counts()
    for case, metadata in refused:
        code, named = await _outcome(rpc.call, case.request, metadata)
        if code is not grpc.StatusCode.INVALID_ARGUMENT or not _names(named, case):
            problems.append(f"{case.path} {case.kind}: {code.name} naming {sorted(named)}")
    after = await row_counts()
    if after != before:
        problems.append(f"refused calls wrote rows: {before} -> {after}")

    for case, metadata in accepted:
        if rpc.renew is not None:
            rpc.renew(case.request)
        code, named = await _outcome(rpc.call, case.request, metadata)
        if code in BROKEN or (code is grpc.StatusCode.INVALID_ARGUMENT and not _names(named, case)):
            problems.append(f"{case.path} {case.kind} (acceptable): {code.name} naming {sorted(named)}")
    return problems


# --- generating the cases


Locate = Callable[[Message], Any]  # from the root of a copy, the message holding the field
Change = Callable[[Message], None]
# Descriptors: protobuf types them as its Python classes or as upb's, which mypy cannot tell apart.
FieldInfo = Any


def _clear(locate: Locate, name: str) -> Change:
    def clear(root: Message) -> None:
        locate(root).ClearField(name)

    return clear


def _inside(locate: Locate, name: str, *index: Any) -> Locate:
    """The message in field `name` (at `index`, for a repeated or map field) of the located one."""

    def inner(root: Message) -> Any:
        found = getattr(locate(root), name)
        return found[index[0]] if index else found

    return inner


def _cases(good: Message, message: Message, locate: Locate, prefix: str, found: list[Case]) -> None:
    item: FieldInfo
    for item in message.DESCRIPTOR.fields:
        path = prefix + item.name
        if item.message_type is not None and item.message_type.GetOptions().map_entry:
            _map_cases(good, message, item, locate, path, found)
        elif item.is_repeated:
            _repeated_cases(good, message, item, locate, path, found)
        elif item.message_type is not None:
            if message.HasField(item.name):
                found.append(_case(good, item, path, "empty", _clear(locate, item.name)))
                _cases(good, getattr(message, item.name), _inside(locate, item.name), f"{path}.", found)
        else:
            oneof = item.containing_oneof
            if oneof is not None and message.WhichOneof(oneof.name) != item.name:
                continue  # another good request takes this branch
            for kind, value in _values(item, getattr(message, item.name)):
                found.append(_case(good, item, path, kind, _setter(locate, item.name, value)))


def _repeated_cases(
    good: Message, message: Message, item: FieldInfo, locate: Locate, path: str, found: list[Case]
) -> None:
    values = getattr(message, item.name)
    found.append(_case(good, item, path, "empty", _clear(locate, item.name)))
    if not values:
        return
    if item.message_type is not None:
        _cases(good, values[0], _inside(locate, item.name, 0), f"{path}[0].", found)
        return
    for kind, value in _values(item, values[0]):

        def set_first(root: Message, name: str = item.name, value: Any = value) -> None:
            getattr(locate(root), name)[0] = value

        found.append(_case(good, item, f"{path}[0]", kind, set_first))


def _map_cases(good: Message, message: Message, item: FieldInfo, locate: Locate, path: str, found: list[Case]) -> None:
    entries = getattr(message, item.name)
    found.append(_case(good, item, path, "empty", _clear(locate, item.name)))
    if not entries:
        return
    key = sorted(entries)[0]
    entry = item.message_type
    assert entry is not None
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    if key_field.type == FieldDescriptor.TYPE_STRING:
        for kind, new_key in _values(key_field, key):

            def rekey(root: Message, name: str = item.name, new_key: Any = new_key) -> None:
                mapping = getattr(locate(root), name)
                value = mapping[key]
                del mapping[key]
                if value_field.message_type is not None:
                    mapping[new_key].CopyFrom(value)
                else:
                    mapping[new_key] = value

            found.append(_case(good, item, path, f"key {kind}", rekey))
    if value_field.message_type is not None:
        _cases(good, entries[key], _inside(locate, item.name, key), f"{path}[{key}].", found)
        return
    for kind, value in _values(value_field, entries[key]):

        def set_value(root: Message, name: str = item.name, value: Any = value) -> None:
            getattr(locate(root), name)[key] = value

        found.append(_case(good, item, f"{path}[{key}]", kind, set_value))


def _values(item: FieldInfo, good: Any) -> Iterator[tuple[str, Any]]:
    if item.type == FieldDescriptor.TYPE_STRING:
        yield "empty", ""
        yield "too long", TOO_LONG
        for kind, character in CONTROLS.items():
            yield kind, f"{good[:1]}{character}{good[1:]}"
    elif item.type == FieldDescriptor.TYPE_ENUM:
        assert UNKNOWN_ENUM not in item.enum_type.values_by_number
        yield "empty", 0
        yield "unknown enum", UNKNOWN_ENUM
    elif item.type in _INTEGER_RANGES:
        lowest, highest = _INTEGER_RANGES[item.type]
        yield "empty", 0
        if lowest < 0:
            yield "negative", -1
        yield "2**31", min(2**31, highest)
        yield "2**63", min(2**63, highest)


def _setter(locate: Locate, name: str, value: Any) -> Change:
    def set_field(root: Message) -> None:
        setattr(locate(root), name, value)

    return set_field


def _case(good: Message, item: FieldInfo, path: str, kind: str, change: Change) -> Case:
    request = type(good)()
    request.CopyFrom(good)
    change(request)
    # A refusal may name the oneof a member belongs to ("give mall or pingou prices"); a proto3 `optional`
    # field is a oneof of its own, named `_<field>`, which no refusal names.
    oneof = item.containing_oneof
    also = (oneof.name,) if oneof is not None and not oneof.name.startswith("_") else ()
    # A well-known type (a Timestamp) is one value to its field: a refusal names the field, not its parts.
    holder = item.containing_type
    if holder is not None and holder.file.package == "google.protobuf" and "." in path:
        also = (*also, path.rsplit(".", 1)[0])
    return Case(path, kind, item.full_name, request, also)


# --- calling and reading the answer


async def _outcome(call: Call, request: Message, metadata: Metadata) -> tuple[grpc.StatusCode, set[str]]:
    try:
        await call(request, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        return error.code(), _violations(error)
    return grpc.StatusCode.OK, set()


def _violations(error: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(error)
    named: set[str] = set()
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            named |= {violation.field for violation in bad_request.field_violations}
    return named


def _names(named: set[str], case: Case) -> bool:
    """The refusal names the field (or, for a cleared message or list, a field inside it)."""
    for target in (case.path, *case.also_named):
        if any(name == target or name.startswith((f"{target}.", f"{target}[")) for name in named):
            return True
    return False


def _show(request: Message) -> str:
    return f"{type(request).__name__}({str(request).strip()[:200]!r})"
