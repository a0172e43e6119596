"""The auth matrix of one RPC, generated from the access rule its server enforces (libs.grpckit.access):
every caller the rule refuses, each with the status the README documents (Key custody, Errors), and the
check that each refusal is that status and no answer, and that none of them wrote a row.

The callers, each sending the RPC's known-good request:

- tokens no rule accepts: none (`TOKEN_MISSING`), expired (`TOKEN_EXPIRED`), a signature with one byte
  changed (`TOKEN_INVALID`), signed by a key the platform does not trust (`KEY_UNKNOWN`), a service's key
  signing for another service or for a person (`KEY_NOT_ALLOWED`): all UNAUTHENTICATED;
- each role the rule does not let in, signed as the platform signs it (people's roles by the issuer key,
  the `service` role by a real service identity's own key): PERMISSION_DENIED `ROLE_REQUIRED`; a user
  naming another user where the rule lets a user in for themself likewise; the owner role for what is not
  its own: PERMISSION_DENIED with the servicer's reason;
- each service identity not among the rule's named callers: PERMISSION_DENIED `CALLER_NOT_ALLOWED`;
- where the rule says which line the request's resource is of: an allowed caller of the other line,
  PERMISSION_DENIED `LINE_MISMATCH` (`LINE_NOT_SERVED` where the instance does not serve that line).

Each of these tokens would be let in but for the one thing the case changes: the unauthenticated ones and
the other line's carry a caller the rule allows, and that caller, sent last, must get past the rule.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from libs.auth import Role, TokenIssuer
from libs.auth.local import LocalKeys
from libs.core import BusinessLine, format_user_id
from libs.grpckit import service_token_metadata
from libs.grpckit.access import Access, field_value
from libs.grpckit.errors import reason_of

Metadata = list[tuple[str, str]]
Call = Callable[..., Awaitable[Any]]
UNAUTHENTICATED, PERMISSION_DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED
# What an allowed caller must not get: a refusal of the caller, of the request, or a broken server.
NOT_LET_IN = (UNAUTHENTICATED, PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
BROKEN = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
# People's roles, the order an allowed caller is picked in.
PEOPLE = (Role.OPERATOR, Role.ANALYTICS, Role.MERCHANT, Role.USER)
OTHER_USER_NUMBER = 9_999_999  # no test registers this many users


def other(line: BusinessLine) -> BusinessLine:
    return BusinessLine.MALL if line is BusinessLine.PINGOU else BusinessLine.PINGOU


@dataclass(frozen=True)
class Caller:
    subject: str
    role: Role


@dataclass(frozen=True)
class Signers:
    """The platform's keys (the suite's key set), and one it does not trust."""

    keys: LocalKeys
    stranger: TokenIssuer
    identities: Sequence[str]  # every service identity of the key set

    def token(self, caller: Caller, line: BusinessLine, *, ttl_seconds: int = 600) -> str:
        return self.keys.mint(subject=caller.subject, line=line, roles=(caller.role,), ttl_seconds=ttl_seconds)

    def metadata(self, caller: Caller, line: BusinessLine) -> Metadata:
        return service_token_metadata(self.token(caller, line))

    def signed_by(self, identity: str, caller: Caller, line: BusinessLine) -> Metadata:
        """A token for `caller` signed by the key of the service `identity`."""
        issuer = TokenIssuer.from_file(self.keys.service_key_file(identity))
        return service_token_metadata(issuer.mint(subject=caller.subject, line=line, roles=(caller.role,)))


@dataclass(frozen=True)
class Case:
    name: str
    metadata: Metadata | None
    code: grpc.StatusCode
    reason: str | None  # None: the servicer's own reason (an owner refused what is not its own)


@dataclass(frozen=True)
class Target:
    """One RPC of one service, as the matrix needs to know it."""

    rule: Access
    request: Message
    callers: frozenset[str]  # the identities the rule's `callers` setting names (empty: none named)
    served_lines: Collection[BusinessLine]
    owner_reason: str | None = None  # what the servicer answers an owner asking for what is not its own

    @property
    def line(self) -> BusinessLine:
        """The line of what the request names (the rule's own line, or pingou for the caller's line)."""
        return BusinessLine.PINGOU if self.rule.line is None else self.rule.line(self.request)


def allowed_caller(target: Target) -> Caller:
    """A caller the rule lets in whatever the request names: a person's role it allows, else a service it
    allows (the first of its named callers)."""
    rule = target.rule
    for role in PEOPLE:
        if role in rule.roles:
            return Caller(f"matrix-{role}", role)
    assert Role.SERVICE in rule.roles, f"{rule} lets no one in by role"
    return Caller(min(target.callers) if target.callers else "app", Role.SERVICE)


def cases(target: Target, signers: Signers) -> list[Case]:
    rule, line = target.rule, target.line
    allowed = allowed_caller(target)
    token = signers.token(allowed, line)
    not_allowed = "KEY_NOT_ALLOWED"
    impostor = next(name for name in ("groupbuy", "order") if name != allowed.subject)
    found = [
        Case("no token", None, UNAUTHENTICATED, "TOKEN_MISSING"),
        Case("expired", _bearer(signers.token(allowed, line, ttl_seconds=-3600)), UNAUTHENTICATED, "TOKEN_EXPIRED"),
        Case("bad signature", _bearer(_altered_signature(token)), UNAUTHENTICATED, "TOKEN_INVALID"),
        Case("unknown key", _bearer(_signed(signers.stranger, allowed, line)), UNAUTHENTICATED, "KEY_UNKNOWN"),
        Case(
            f"{impostor}'s key for the service payments",
            signers.signed_by(impostor, Caller("payments", Role.SERVICE), line),
            UNAUTHENTICATED,
            not_allowed,
        ),
        Case(
            "a service's key for a person",
            signers.signed_by(impostor, Caller("ops-matrix", Role.OPERATOR), line),
            UNAUTHENTICATED,
            not_allowed,
        ),
    ]
    if allowed.role is Role.SERVICE:
        found.append(
            Case(
                f"{impostor}'s key for {allowed.subject}",
                signers.signed_by(impostor, allowed, line),
                UNAUTHENTICATED,
                not_allowed,
            )
        )
    found += _role_cases(target, signers)
    if rule.callers is not None and Role.SERVICE in rule.roles:
        for identity in sorted(set(signers.identities) - target.callers):
            caller = Caller(identity, Role.SERVICE)
            found.append(
                Case(f"service {identity}", signers.metadata(caller, line), PERMISSION_DENIED, "CALLER_NOT_ALLOWED")
            )
    if rule.line is not None:
        reason = "LINE_MISMATCH" if other(line) in target.served_lines else "LINE_NOT_SERVED"
        found.append(Case(f"{other(line)} token", signers.metadata(allowed, other(line)), PERMISSION_DENIED, reason))
    return found


def _role_cases(target: Target, signers: Signers) -> list[Case]:
    rule, line = target.rule, target.line
    found = []
    for role in Role:
        if role in rule.roles:
            continue
        if role is Role.SERVICE:
            caller = Caller(min(signers.identities), role)
        elif role is Role.USER:
            caller = Caller(_another_user(target), role)
        else:
            caller = Caller(f"matrix-not-the-{role}", role)
        reason: str | None = "ROLE_REQUIRED"
        if role is rule.owner:
            reason = target.owner_reason
            assert reason is not None, f"say what the servicer answers a {role} for what is not its own"
        name = f"{role} {caller.subject}" + (" (not the owner)" if role is rule.owner else "")
        found.append(Case(name, signers.metadata(caller, line), PERMISSION_DENIED, reason))
    return found


def _another_user(target: Target) -> str:
    """A user of the request's line who is not the one the request names."""
    user = format_user_id(target.line, OTHER_USER_NUMBER)
    if target.rule.self_field is not None:
        assert field_value(target.request, target.rule.self_field) != user
    return user


def _bearer(token: str) -> Metadata:
    return service_token_metadata(token)


def _signed(issuer: TokenIssuer, caller: Caller, line: BusinessLine) -> str:
    return issuer.mint(subject=caller.subject, line=line, roles=(caller.role,))


def _altered_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return f"{header}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


async def check_target(
    call: Call, target: Target, signers: Signers, row_counts: Callable[[], Awaitable[Any]]
) -> list[str]:
    """Sends every refused case, then the allowed caller: the problems found, one line each."""
    problems: list[str] = []
    found = cases(target, signers)
    before = await row_counts()
    for case in found:
        outcome = await _outcome(call, target.request, case.metadata)
        if isinstance(outcome, Message):
            problems.append(f"{case.name}: answered {type(outcome).__name__} instead of {case.code.name}")
            continue
        code, reason = outcome
        if code is not case.code or (case.reason is not None and reason != case.reason):
            problems.append(f"{case.name}: got {code.name} {reason}, documented {case.code.name} {case.reason}")
    after = await row_counts()
    if after != before:
        problems.append(f"refused calls wrote rows: {_changed(before, after)}")
    allowed = allowed_caller(target)
    outcome = await _outcome(call, target.request, signers.metadata(allowed, target.line))
    if not isinstance(outcome, Message) and outcome[0] in (*NOT_LET_IN, *BROKEN):
        problems.append(f"the allowed caller {allowed} got {outcome[0].name} {outcome[1]}")
    return problems


async def _outcome(call: Call, request: Message, metadata: Metadata | None) -> Message | tuple[grpc.StatusCode, Any]:
    try:
        answer: Message = await call(request, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        return error.code(), reason_of(error)
    return answer


def _changed(before: Any, after: Any) -> Any:
    if isinstance(before, dict) and isinstance(after, dict):
        return {
            key: (before.get(key), after.get(key))
            for key in before.keys() | after.keys()
            if before.get(key) != after.get(key)
        }
    return (before, after)
