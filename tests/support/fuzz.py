"""Hypothesis strategies for protobuf requests, built from the message descriptors (the PyPI helpers for
protobuf are unmaintained and break on protobuf 5+): every field, however deep, with the values that
break services: wrong and huge numbers, empty and long strings, every control character, unknown enum
values, forged page tokens, SQL, timestamps out of any range; and `fuzz_method`, which sends them to one
RPC (never UNKNOWN, INTERNAL or a hang), its failing examples kept in .hypothesis/ and replayed first."""

from __future__ import annotations

import base64
from typing import Any

import grpc
from google.protobuf import descriptor, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from tests.conftest import REPO

FD = descriptor.FieldDescriptor

SQL = ["' OR '1'='1", "'; DROP TABLE orders; --", "\\", "%", "_", "$1", "::text", "E'\\x00'"]
WEIRD = ["", " ", "\x00", "\x1b[31m", "\u202e", "\ufeff", "\ud7ff", "拼购", "a" * 5000, "pu_", "mu_1", "po_x"]
# Values a forged page token might carry: random base64, the old unkeyed format, a JSON with huge values.
FORGED_TOKENS = [
    base64.urlsafe_b64encode(b'["0123456789abcdef", 1180591620717411303424, "x"]').decode().rstrip("="),
    base64.urlsafe_b64encode(b"\x01" + b"\xff" * 40).decode(),
    "A" * 2000,
    "%%%",
]

_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    small = st.integers(min_value=max(low, -3), max_value=min(high, 100))
    return st.one_of(st.sampled_from(sorted(_edges(low, high))), st.integers(min_value=low, max_value=high), small)


def _edges(low: int, high: int) -> set[int]:
    edges = (low, high, 0, 1, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**53, 2**63 - 1)
    return {value for value in edges if low <= value <= high}


def _strings(field: descriptor.FieldDescriptor) -> st.SearchStrategy[str]:
    controls = st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=40)
    choices = [st.sampled_from(WEIRD + SQL), st.text(max_size=60), controls, st.text(min_size=200, max_size=3000)]
    if "token" in field.name:
        choices.append(st.sampled_from(FORGED_TOKENS))
    return st.one_of(*choices)


def _scalar(field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _INT_RANGES:
        return _integers(*_INT_RANGES[kind])
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if kind == FD.TYPE_FLOAT else 64)
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind == FD.TYPE_STRING:
        return _strings(field)
    if kind == FD.TYPE_BYTES:
        return st.binary(max_size=300)
    if kind == FD.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
    assert kind == FD.TYPE_MESSAGE
    assert field.message_type is not None
    return messages(field.message_type, depth=depth + 1)


def messages(message_type: descriptor.Descriptor, *, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `message_type` with any subset of their fields set to hostile values (nested messages
    up to a few levels deep; repeated fields and maps of a few entries)."""
    cls = message_factory.GetMessageClass(message_type)
    if depth > 3:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in message_type.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            fields[field.name] = st.dictionaries(_scalar(key_field, depth), _scalar(value_field, depth), max_size=3)
        elif field.is_repeated:
            fields[field.name] = st.lists(_scalar(field, depth), max_size=3)
        else:
            fields[field.name] = _scalar(field, depth)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []:
            field = message_type.fields_by_name[name]
            value = draw(fields[name])
            if isinstance(value, dict):
                target = getattr(message, name)
                for key, item in value.items():
                    if isinstance(item, Message):
                        target[key].CopyFrom(item)
                    else:
                        target[key] = item
            elif field.is_repeated:
                target = getattr(message, name)
                for item in value:
                    target.add().CopyFrom(item) if isinstance(item, Message) else target.append(item)
            elif isinstance(value, Message):
                getattr(message, name).CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return build()


# --- sending them: every generated request to one RPC, under each token given

EXAMPLES = 150  # requests per RPC, each sent under every token given
CALL_TIMEOUT = 10.0  # seconds: an answer later than this is a hang
Metadata = list[tuple[str, str]]
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}


def _answer(
    call: grpc.UnaryUnaryMultiCallable, request: Message, metadata: Metadata
) -> tuple[grpc.StatusCode, str | None]:
    try:
        call(request, metadata=metadata, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        if not isinstance(error, grpc.Call):
            raise
        return error.code(), error.details()
    return grpc.StatusCode.OK, None


def fuzz_method(call: grpc.UnaryUnaryMultiCallable, method: MethodDescriptor, tokens: list[Metadata]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(REPO / ".hypothesis" / "examples")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(request=messages(method.input_type))
    def never_unknown_internal_or_a_hang(request: Message) -> None:
        for metadata in tokens:
            code, details = _answer(call, request, metadata)
            assert code not in NEVER, f"{method.full_name}: {code} {details}"

    never_unknown_internal_or_a_hang()
