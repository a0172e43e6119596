"""Authorization checks every service uses, so line isolation is enforced the same way everywhere: the
platform interceptor applies them as each method's access rule declares (libs.grpckit.access)."""

from __future__ import annotations

from libs.auth.principal import Principal, Role
from libs.core import BusinessLine, PermissionDenied
from libs.logs import get_logger

log = get_logger(__name__)


def require_line(principal: Principal, line: BusinessLine) -> None:
    """The caller's token must belong to `line`: a pingou caller never touches mall data and vice versa."""
    if principal.line is not line:
        # Every cross-line attempt is logged: it is either a bug in a client or an attack.
        log.warning("cross_line_access_denied", subject=principal.subject, token_line=principal.line, target_line=line)
        raise PermissionDenied(
            f"a {principal.line} token cannot access {line} data",
            reason="LINE_MISMATCH",
            metadata={"token_line": principal.line, "resource_line": line},
        )


def require_role(principal: Principal, *roles: Role) -> None:
    """The caller must hold at least one of `roles`."""
    if not principal.has_role(*roles):
        wanted = ", ".join(sorted(role.value for role in roles))
        log.warning("role_denied", subject=principal.subject, roles=sorted(principal.roles), wanted=wanted)
        raise PermissionDenied(f"this call needs one of the roles: {wanted}", reason="ROLE_REQUIRED")


def require_service(principal: Principal, callers: frozenset[str], action: str) -> None:
    """Only the services named in `callers` may do this: every service holds the `service` role, so the
    role alone is no boundary (a payment confirmation, a group order, a stock lease)."""
    require_role(principal, Role.SERVICE)
    if principal.subject not in callers:
        log.warning("caller_not_allowed", subject=principal.subject, allowed=sorted(callers), action=action)
        raise PermissionDenied(f"{principal.subject} may not {action}", reason="CALLER_NOT_ALLOWED")


def limit_services(principal: Principal, callers: frozenset[str], action: str) -> None:
    """For calls open to services and to people's roles alike: a caller with the `service` role must be
    one of `callers` (an operator or the user themself passes on the role checks made before)."""
    if principal.has_role(Role.SERVICE):
        require_service(principal, callers, action)
