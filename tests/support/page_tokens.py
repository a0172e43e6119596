"""Forged page tokens for the paged RPCs' tests, and the one answer every forgery must get:
INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN, naming page_token (never INTERNAL)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Awaitable, Sequence

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from libs.core.paging import PageTokens
from libs.grpckit.errors import reason_of


def unsigned(position: Sequence[str | int], *, scope: str) -> str:
    """A token in the format page tokens had before they were signed: an unkeyed digest of the scope that
    anyone could compute, and whatever position the forger liked."""
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    raw = json.dumps([digest, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def random_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")


def tampered(token: str) -> str:
    """`token` with one bit of its position changed and its tag kept."""
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[2] ^= 0x01  # past the format byte and the opening bracket: the first value
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def another_key(service: str) -> PageTokens:
    """Page tokens of the right service signed with a key the deployment never had."""
    return PageTokens([secrets.token_bytes(32)], service=service)


def page_token_field(error: grpc.aio.AioRpcError) -> bool:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return any(violation.field == "page_token" for violation in bad.field_violations)
    return False


async def refused_as_bad_page_token(call: Awaitable[object]) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert (error.code(), reason_of(error)) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"), error.details()
    assert page_token_field(error)
