"""Authentication and authorization: JWT verification, the caller's principal, line and role checks.

Tokens are Ed25519-signed JWTs (algorithm EdDSA) carrying `sub`, `line` and `roles`, each signed by a key
that may sign only what the trusted key set allows it (keys.py): people's tokens by the issuer key, a
service's by its own. Services hold the key set's public halves and their own key; `python -m libs.auth`
makes local keys and mints tokens with them for development and tests (local.py).
"""

from libs.auth.policy import limit_services, require_line, require_role, require_service
from libs.auth.principal import Principal, Role, current_principal, use_principal
from libs.auth.service_tokens import ServiceCredentials
from libs.auth.tokens import TokenIssuer, TokenVerifier, generate_key_pair

__all__ = [
    "Principal",
    "Role",
    "ServiceCredentials",
    "TokenIssuer",
    "TokenVerifier",
    "current_principal",
    "generate_key_pair",
    "limit_services",
    "require_line",
    "require_role",
    "require_service",
    "use_principal",
]
