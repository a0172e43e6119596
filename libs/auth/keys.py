"""The trusted key set: which keys may sign tokens, and what each may sign for.

Every signer has a key of its own: one issuer key for people (users, merchants, operators, analysts),
held by the login system and no service, and one key per service identity (each service, the payment
provider's adapter), which signs only its own subject with the `service` role. Verifiers hold the
public halves in a key set (a JWKS document, RFC 7517); a token names its key in the `kid` header, and a
token whose claims its key may not sign for is refused however good its signature. So a service that
is broken into can speak only as itself: it cannot confirm payments as `payments`, or act as an operator.

A key set entry is a JWK with the members this platform adds:

    {"kty": "OKP", "crv": "Ed25519", "x": "...", "kid": "...", "use": "sig", "alg": "EdDSA",
     "name": "groupbuy", "roles": ["service"], "subjects": ["groupbuy"]}

`subjects` absent means any subject (the issuer key); `lines`, when present, limits the business lines.
The key id is the key's JWK thumbprint (RFC 7638), so a signer derives it from its key alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from libs.auth.principal import Principal, Role
from libs.core import BusinessLine

PERSON_ROLES = frozenset({Role.USER, Role.MERCHANT, Role.OPERATOR, Role.ANALYTICS})


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The key's JWK thumbprint (RFC 7638): the same for the private key and its public half."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public))}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    name: str
    public_key: Ed25519PublicKey
    roles: frozenset[Role]
    subjects: frozenset[str] | None = None  # None: any subject
    lines: frozenset[BusinessLine] | None = None  # None: both lines

    def refusal(self, principal: Principal) -> str | None:
        """Why this key may not sign for `principal`, or None when it may."""
        if not principal.roles <= self.roles:
            extra = ", ".join(sorted(principal.roles - self.roles))
            return f"key {self.name!r} may not sign the roles {extra}"
        if self.subjects is not None and principal.subject not in self.subjects:
            return f"key {self.name!r} may not sign for the subject {principal.subject!r}"
        if self.lines is not None and principal.line not in self.lines:
            return f"key {self.name!r} may not sign for the line {principal.line}"
        return None

    def to_jwk(self) -> dict[str, object]:
        jwk: dict[str, object] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public(self.public_key)),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
            "name": self.name,
            "roles": sorted(role.value for role in self.roles),
        }
        if self.subjects is not None:
            jwk["subjects"] = sorted(self.subjects)
        if self.lines is not None:
            jwk["lines"] = sorted(line.value for line in self.lines)
        return jwk

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, object]) -> TrustedKey:
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError(f"key {jwk.get('kid')!r}: only Ed25519 (kty OKP) keys are trusted")
        public_key = Ed25519PublicKey.from_public_bytes(_b64url_decode(str(jwk["x"])))
        kid = key_id(public_key)
        if jwk.get("kid") != kid:
            raise ValueError(f"key {jwk.get('kid')!r}: its kid is not its thumbprint ({kid})")
        roles = jwk.get("roles")
        if not isinstance(roles, list) or not roles:
            raise ValueError(f"key {kid!r}: name the roles it may sign")
        subjects, lines = jwk.get("subjects"), jwk.get("lines")
        return cls(
            kid=kid,
            name=str(jwk.get("name") or kid),
            public_key=public_key,
            roles=frozenset(Role(str(role)) for role in roles),
            subjects=None if subjects is None else frozenset(str(subject) for subject in _as_list(subjects)),
            lines=None if lines is None else frozenset(BusinessLine.parse(str(line)) for line in _as_list(lines)),
        )


def _as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    return value


def issuer_key(public_key: Ed25519PublicKey, *, name: str = "issuer") -> TrustedKey:
    """The key that signs people's tokens, for any subject, never with the `service` role."""
    return TrustedKey(kid=key_id(public_key), name=name, public_key=public_key, roles=PERSON_ROLES)


def service_key(public_key: Ed25519PublicKey, *, service: str) -> TrustedKey:
    """A service identity's key: its own subject, the `service` role, nothing else."""
    return TrustedKey(
        kid=key_id(public_key),
        name=service,
        public_key=public_key,
        roles=frozenset({Role.SERVICE}),
        subjects=frozenset({service}),
    )


class KeySet:
    def __init__(self, keys: Iterable[TrustedKey]):
        self._keys = {key.kid: key for key in keys}

    def get(self, kid: str) -> TrustedKey | None:
        return self._keys.get(kid)

    def __iter__(self) -> Iterator[TrustedKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    @classmethod
    def parse(cls, text: str | bytes) -> KeySet:
        """A key set from its JSON; ValueError naming the first entry that is not a trusted key."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
            raise ValueError('expected {"keys": [...]} with at least one key')
        try:
            return cls(TrustedKey.from_jwk(jwk) for jwk in document["keys"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a trusted key: {error}") from None

    @classmethod
    def from_file(cls, path: Path) -> KeySet:
        return cls.parse(path.read_bytes())

    def to_json(self) -> str:
        return json.dumps({"keys": [key.to_jwk() for key in self._keys.values()]}, indent=2) + "\n"
