"""Whose fault a job's failure is: the infrastructure's (retry the whole batch after a pause) or one row's
own (set that row aside, and go on with the others)."""

from __future__ import annotations

import asyncpg
import grpc
from asyncpg.exceptions._base import DataError as ArgumentError  # a query argument its column refuses

from libs.core import DomainError

# SQLSTATE classes that say nothing about the row being worked on: the connection, the transaction's
# fate (serialization failure, deadlock, an earlier error in it), resources, an operator or the server
# stepping in, locks not granted, and statements or objects this deployment lacks (a missing migration
# refuses every row alike).
_INFRASTRUCTURE_SQLSTATE_CLASSES = frozenset({"08", "25", "28", "3D", "3F", "40", "42", "53", "55", "57", "58", "XX"})

# Answers of a called service about the row itself. Every other code (UNAVAILABLE, DEADLINE_EXCEEDED,
# ABORTED, RESOURCE_EXHAUSTED, a refused token, INTERNAL, ...) says the call, not the row, went wrong.
_ROW_STATUS_CODES = frozenset(
    {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)
_ROW_DOMAIN_STATUSES = frozenset({code.name for code in _ROW_STATUS_CODES})


def is_infrastructure(error: BaseException) -> bool:
    """True when `error` would befall any row (a dependency away, the database busy or unreachable, a
    misconfiguration): the batch is retried whole, later. False when it is the row's own: a domain refusal
    (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, ...), a constraint or data error on its change, or a
    bug that its data set off."""
    if isinstance(error, DomainError):
        return error.status not in _ROW_DOMAIN_STATUSES
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code() not in _ROW_STATUS_CODES
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = str(getattr(error, "sqlstate", "") or "")
        return sqlstate[:2] in _INFRASTRUCTURE_SQLSTATE_CLASSES
    if isinstance(error, ArgumentError):
        return False
    return isinstance(error, (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError))


def describe(error: BaseException) -> str:
    """What an operator reads about a set-aside row: the error's type, its reason, its message."""
    reason = getattr(error, "reason", None)
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details() or ''}"[:2000]
    kind = type(error).__name__
    return (f"{kind} {reason}: {error}" if reason else f"{kind}: {error}")[:2000]
