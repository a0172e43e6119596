"""Authentication and authorization: JWT verification, the caller's principal, line and role checks.

Tokens are Ed25519-signed JWTs (algorithm EdDSA) carrying `sub`, `line` and `roles`. Services hold only
the public key; `python -m libs.auth` mints tokens from a local private key for development and tests.
"""

from libs.auth.policy import authorize_user_access, require_line, require_role, require_service
from libs.auth.principal import Principal, Role, current_principal, use_principal
from libs.auth.service_tokens import ServiceCredentials
from libs.auth.tokens import TokenIssuer, TokenVerifier, generate_key_pair

__all__ = [
    "Principal",
    "Role",
    "ServiceCredentials",
    "TokenIssuer",
    "TokenVerifier",
    "authorize_user_access",
    "current_principal",
    "generate_key_pair",
    "require_line",
    "require_role",
    "require_service",
    "use_principal",
]
