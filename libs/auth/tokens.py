"""Signing and verifying the platform's JWTs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import jwt
from cachetools import LRUCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.auth.keys import KeySet, key_id
from libs.auth.principal import Principal, Role
from libs.core import BusinessLine, Unauthenticated
from libs.logs import get_logger

log = get_logger(__name__)

ISSUER = "pingou-platform"
AUDIENCE = "pingou-platform"
ALGORITHM = "EdDSA"
MAX_SUBJECT_LENGTH = 128
MAX_LIFETIME_SECONDS = 24 * 3600  # a leaked token is useful for a day at most
VERIFIED_CACHE_SIZE = 100_000  # tokens remembered as verified (a few hundred bytes each)


def generate_key_pair(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair as PEM files (the private one readable by its owner only)."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


class TokenIssuer:
    """Signs tokens with one private key, naming it in the `kid` header (its thumbprint, see keys.py)."""

    def __init__(self, private_key_pem: bytes):
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key must be an Ed25519 private key")
        self._key = key
        self.kid = key_id(key)

    @classmethod
    def from_file(cls, path: Path) -> TokenIssuer:
        return cls(path.read_bytes())

    def mint(
        self,
        *,
        subject: str,
        line: BusinessLine,
        roles: Iterable[Role],
        ttl_seconds: int = 3600,
        now: float | None = None,
    ) -> str:
        """A signed token; a negative ttl makes an already expired one (for tests of expiry)."""
        issued_at = int(time.time() if now is None else now)
        if ttl_seconds < 0:
            issued_at, ttl_seconds = issued_at + 2 * ttl_seconds, -ttl_seconds
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "line": line.value,
            "roles": sorted(role.value for role in roles),
            "iat": issued_at,
            "exp": issued_at + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})


class TokenVerifier:
    """Verifies tokens; a token that verified is remembered until it expires, so the signature check (a
    fifth of an echo call's CPU, measured) is paid once per token rather than once per call. Only good
    tokens are remembered: a bad one is checked, and refused, every time."""

    def __init__(self, key_set: KeySet, *, leeway_seconds: float = 30, remembered: int = VERIFIED_CACHE_SIZE):
        self._keys = key_set
        self._leeway = leeway_seconds
        self._verified: LRUCache[str, tuple[Principal, float]] = LRUCache(maxsize=remembered)

    @classmethod
    def from_file(cls, path: Path) -> TokenVerifier:
        """A verifier trusting the key set in `path` (JWT_KEY_SET_FILE)."""
        return cls(KeySet.from_file(path))

    def verify(self, token: str) -> Principal:
        """The principal the token speaks for; Unauthenticated with a reason when it is not valid."""
        known = self._verified.get(token)
        if known is not None:
            principal, expires_at = known
            if time.time() <= expires_at + self._leeway:
                return principal
            del self._verified[token]
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
        principal, expires_at = self._check(token)
        self._verified[token] = (principal, expires_at)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is not valid: {error}", reason="TOKEN_INVALID") from None
        if not isinstance(kid, str):
            raise Unauthenticated("the token names no signing key (kid)", reason="KEY_UNKNOWN")
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the token is signed by a key this platform does not trust", reason="KEY_UNKNOWN")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the token is not valid: {error}", reason="TOKEN_INVALID") from None
        lifetime = claims["exp"] - claims["iat"]
        if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
            raise Unauthenticated("the token's lifetime is longer than a day", reason="TOKEN_INVALID")
        principal = _principal_from_claims(claims)
        refusal = key.refusal(principal)
        if refusal is not None:
            # A good signature from a key speaking beyond its custody: a stolen or misused key.
            log.warning("token_beyond_its_key", kid=kid, key=key.name, subject=principal.subject, why=refusal)
            raise Unauthenticated(f"the token is not valid: {refusal}", reason="KEY_NOT_ALLOWED")
        return principal, float(claims["exp"])


def _principal_from_claims(claims: dict[str, object]) -> Principal:
    subject, line, roles = claims.get("sub"), claims.get("line"), claims.get("roles")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise Unauthenticated("the token's subject is missing or too long", reason="TOKEN_INVALID")
    try:
        parsed_line = BusinessLine.parse(str(line))
        if not isinstance(roles, list):
            raise ValueError("roles must be a list")
        parsed_roles = frozenset(Role(str(role)) for role in roles)
    except ValueError as error:
        raise Unauthenticated(f"the token's claims are not valid: {error}", reason="TOKEN_INVALID") from None
    return Principal(subject=subject, line=parsed_line, roles=parsed_roles)
