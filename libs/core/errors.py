"""Domain errors. Each carries the gRPC status it stands for (by name, so domain code imports no gRPC)
and a machine-readable reason; the gRPC layer turns them into statuses in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every error a use case reports to its caller on purpose."""

    status = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"

    def __init__(self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    status = default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: Sequence[FieldViolation] = (),
        metadata: Mapping[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = tuple(violations)


class NotFound(DomainError):
    status = default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    status = default_reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    status = default_reason = "FAILED_PRECONDITION"


class Aborted(DomainError):
    status = default_reason = "ABORTED"


class ResourceExhausted(DomainError):
    status = default_reason = "RESOURCE_EXHAUSTED"


class PermissionDenied(DomainError):
    status = default_reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    status = default_reason = "UNAUTHENTICATED"


class Unavailable(DomainError):
    """A dependency did not answer; the caller may retry."""

    status = default_reason = "UNAVAILABLE"
