"""The vocabulary every service shares: business lines and domain errors. Imports no infrastructure."""

from libs.core.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from libs.core.ids import format_user_id, user_line
from libs.core.lines import BusinessLine

__all__ = [
    "Aborted",
    "AlreadyExists",
    "BusinessLine",
    "DomainError",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "format_user_id",
    "user_line",
]
