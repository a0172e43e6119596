"""Who may call each method: one rule per RPC, declared by the service (`entrypoints/access.py`, `ACCESS`,
beside its `VALIDATORS`) and enforced by the platform interceptor once the request is validated and before
the handler runs, so a refused call reaches no use case and reads no row. A service refuses to start while
one of its methods has no rule (`libs.grpckit.server.check_every_method_authorized`).

A rule is checked in this order:

1. `line`: where the line of what the call touches comes from (a line field, a user id, an order id, a
   fixed line), or `CALLERS_LINE` when the call touches only shared data or the caller's own line. A token
   of the other line is PERMISSION_DENIED `LINE_MISMATCH`, logged. After this check the resource's line is
   the token's, so a handler works on `current_principal().line`.
2. `roles`: the roles that may call. Besides them, a `user` may call for themself where `self_field` names
   the request's user id, and the `owner` role may call for what is its own, which the handler checks
   against the resource (an order's buyer, a SKU's merchant: `admitted_as_owner()`). Anyone else is
   PERMISSION_DENIED `ROLE_REQUIRED`, logged.
3. `callers`: the setting naming the service identities that may call (`LEASE_CALLERS`, ...). Every service
   holds the `service` role, so a caller with it must also be named there (`CALLER_NOT_ALLOWED`, logged);
   people's roles pass on the checks above.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Final

from libs.auth import Principal, Role, limit_services, require_line, require_role
from libs.convert import LINE_FROM_PROTO
from libs.core import BusinessLine, FieldViolation, InvalidArgument, user_line

# The line of the resource a request names; None (CALLERS_LINE): shared data, or the caller's own line.
LineOf = Callable[[Any], BusinessLine]
CALLERS_LINE: Final = None
ANY_ROLE: Final = frozenset(Role)


def field_value(request: Any, path: str) -> Any:
    """The value at a dotted field path of a request (`buyer.user_id`)."""
    value = request
    for name in path.split("."):
        value = getattr(value, name)
    return value


def line_field(path: str) -> LineOf:
    """The line a request names in a `pingou.common.v1.BusinessLine` field."""

    def line_of(request: Any) -> BusinessLine:
        value = field_value(request, path)
        if value not in LINE_FROM_PROTO:
            raise InvalidArgument(f"{path} is not a business line", violations=[FieldViolation(path, "is unknown")])
        return LINE_FROM_PROTO[value]

    return line_of


def user_line_of(path: str) -> LineOf:
    """The line of the user whose id is at `path` (ids carry their line: `pu_...`, `mu_...`)."""
    return lambda request: user_line(field_value(request, path), field=path)


def only(line: BusinessLine) -> LineOf:
    """A method of one line's data whatever the request says (groupbuy: pingou)."""
    return lambda request: line


@dataclass(frozen=True, slots=True)
class Access:
    roles: frozenset[Role]
    line: LineOf | None
    self_field: str | None = None  # a `user` may call when this field is their own user id
    owner: Role | None = None  # may call for what is its own; the handler checks whose it is
    callers: str | None = None  # the setting naming the services that may call (`lease_callers`)

    def authorize(self, principal: Principal, request: Any, *, callers: frozenset[str], method: str) -> bool:
        """PERMISSION_DENIED (logged) unless the rule lets `principal` make this call; True when it is let
        in only as the owner, and the handler must check that what it names is its own."""
        if self.line is not None:
            require_line(principal, self.line(request))
        as_owner = False
        if not principal.has_role(*self.roles):
            if self.owner is not None and principal.has_role(self.owner):
                as_owner = True
            elif not self._is_self(principal, request):
                require_role(principal, *self.roles)
        if self.callers is not None:
            limit_services(principal, callers, f"call {method}")
        return as_owner

    def _is_self(self, principal: Principal, request: Any) -> bool:
        if self.self_field is None or not principal.has_role(Role.USER):
            return False
        return bool(principal.subject == field_value(request, self.self_field))


_as_owner: ContextVar[bool | None] = ContextVar("admitted_as_owner", default=None)


def admitted_as_owner() -> bool:
    """Whether the call being handled was let in only as its rule's `owner`: then the handler must check
    that the resource is the caller's. Fails closed when no rule was applied (a handler called without the
    interceptor)."""
    found = _as_owner.get()
    if found is None:
        raise RuntimeError("no access rule was applied to this call")
    return found


class Admitted:
    """Binds, for the handler, whether its call was let in only as the owner (a class, not a generator:
    it is entered on every call)."""

    __slots__ = ("_as_owner", "_token")
    _token: Token[bool | None]

    def __init__(self, as_owner: bool):
        self._as_owner = as_owner

    def __enter__(self) -> None:
        self._token = _as_owner.set(self._as_owner)

    def __exit__(self, *exc_info: object) -> None:
        _as_owner.reset(self._token)
