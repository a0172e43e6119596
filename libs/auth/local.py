"""The keys of a local platform (development and tests), laid out as production holds them apart:

    <folder>/issuer.key            people's tokens (`make token`, the CLI); no service is given it
    <folder>/services/<name>.key   one per service identity, given only to that service's process
    <folder>/trusted-keys.json     the key set every service verifies with (public halves only)

In production each private key lives in its own secret (the issuer's with the login system, a
service's with its workload); only the key set is shared.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from libs.auth.keys import PERSON_ROLES, KeySet, issuer_key, service_key
from libs.auth.principal import Role
from libs.auth.tokens import TokenIssuer, generate_key_pair
from libs.core import BusinessLine

KEY_SET_FILE = "trusted-keys.json"


def _public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


class LocalKeys:
    def __init__(self, folder: Path):
        self.folder = folder
        self._signers: dict[Path, TokenIssuer] = {}

    @classmethod
    def make(cls, folder: Path, identities: Iterable[str]) -> LocalKeys:
        """Make whatever key is missing (existing ones are kept) and write the key set trusting them all."""
        keys = cls(folder)
        pairs = [keys._pair("issuer"), *(keys._pair(f"services/{name}") for name in sorted(set(identities)))]
        for private, public in pairs:
            if not (private.exists() and public.exists()):
                generate_key_pair(private, public)
        trusted = [issuer_key(_public_key(pairs[0][1]))]
        trusted += [service_key(_public_key(public), service=public.stem) for _, public in pairs[1:]]
        keys.key_set_file.write_text(KeySet(trusted).to_json())
        return keys

    def _pair(self, name: str) -> tuple[Path, Path]:
        return self.folder / f"{name}.key", self.folder / f"{name}.pub"

    @property
    def key_set_file(self) -> Path:
        return self.folder / KEY_SET_FILE

    @property
    def issuer_file(self) -> Path:
        return self._pair("issuer")[0]

    def service_key_file(self, service: str) -> Path:
        """The private key of one service identity; ValueError when the platform has no such identity."""
        path = self._pair(f"services/{service}")[0]
        if not path.is_file():
            known = ", ".join(sorted(key.stem for key in (self.folder / "services").glob("*.key")))
            raise ValueError(f"no local key for the service {service!r} (known: {known})")
        return path

    def signer_for(self, subject: str, roles: Iterable[Role]) -> TokenIssuer:
        """The key that may sign a token for `subject` with `roles`: the service's own key for the `service`
        role, the issuer's for people's roles. ValueError for a mix, which no key may sign."""
        wanted = frozenset(roles)
        if Role.SERVICE in wanted:
            if wanted != {Role.SERVICE}:
                raise ValueError("no key signs the service role together with people's roles")
            return self._signer(self.service_key_file(subject))
        if not wanted <= PERSON_ROLES:
            raise ValueError(f"unknown roles: {sorted(wanted - PERSON_ROLES)}")
        return self._signer(self.issuer_file)

    def _signer(self, path: Path) -> TokenIssuer:
        if path not in self._signers:
            self._signers[path] = TokenIssuer.from_file(path)
        return self._signers[path]

    def mint(self, *, subject: str, line: BusinessLine, roles: Iterable[Role], ttl_seconds: int = 3600) -> str:
        roles = tuple(roles)
        return self.signer_for(subject, roles).mint(subject=subject, line=line, roles=roles, ttl_seconds=ttl_seconds)
