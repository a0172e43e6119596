"""Credentials for calls from one service to another.

A service that calls others holds a signing key of its own (SERVICE_SIGNING_KEY_FILE; in production
its workload's secret, locally `.data/<profile>/keys/services/<name>.key` made by `make up`) and mints
itself short-lived tokens with the `service` role and its own name as subject, one per business line,
renewed well before they expire. The callee checks them like any token: the key set says this key may
sign only for this service (keys.py), and the line of the token must be the line of the data asked for.
"""

from __future__ import annotations

import time
from pathlib import Path

from libs.auth.principal import Role
from libs.auth.tokens import TokenIssuer
from libs.core import BusinessLine

TOKEN_TTL_SECONDS = 900
RENEW_BEFORE_SECONDS = 300


class ServiceCredentials:
    def __init__(self, issuer: TokenIssuer, *, service: str):
        self._issuer = issuer
        self._service = service
        self._tokens: dict[BusinessLine, tuple[str, float]] = {}

    @classmethod
    def from_file(cls, path: Path, *, service: str) -> ServiceCredentials:
        return cls(TokenIssuer.from_file(path), service=service)

    def token(self, line: BusinessLine) -> str:
        now = time.time()
        cached = self._tokens.get(line)
        if cached is None or cached[1] - now < RENEW_BEFORE_SECONDS:
            token = self._issuer.mint(
                subject=self._service, line=line, roles=[Role.SERVICE], ttl_seconds=TOKEN_TTL_SECONDS
            )
            cached = (token, now + TOKEN_TTL_SECONDS)
            self._tokens[line] = cached
        return cached[0]

    def metadata(self, line: BusinessLine) -> list[tuple[str, str]]:
        """gRPC call metadata carrying this service's token for `line`."""
        return [("authorization", f"Bearer {self.token(line)}")]
