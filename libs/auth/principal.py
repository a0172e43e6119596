"""Who is calling: set by the gRPC interceptor for the duration of one call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

from libs.core import BusinessLine, Unauthenticated


class Role(StrEnum):
    USER = "user"
    MERCHANT = "merchant"
    OPERATOR = "operator"
    SERVICE = "service"
    ANALYTICS = "analytics"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    line: BusinessLine
    roles: frozenset[Role]

    def has_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)


_current: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller of the call being handled."""
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller", reason="NO_PRINCIPAL")
    return principal


@contextmanager
def use_principal(principal: Principal) -> Iterator[Principal]:
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)
