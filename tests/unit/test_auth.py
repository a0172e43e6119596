from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from structlog.testing import capture_logs

from libs.auth import (
    Principal,
    Role,
    TokenIssuer,
    TokenVerifier,
    current_principal,
    generate_key_pair,
    require_line,
    require_role,
    use_principal,
)
from libs.core import BusinessLine, PermissionDenied, Unauthenticated


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[TokenIssuer, TokenVerifier]:
    folder = tmp_path_factory.mktemp("keys")
    generate_key_pair(folder / "k", folder / "k.pub")
    return TokenIssuer.from_file(folder / "k"), TokenVerifier.from_file(folder / "k.pub")


def test_a_minted_token_verifies_to_its_principal(key_pair: tuple[TokenIssuer, TokenVerifier]) -> None:
    issuer, verifier = key_pair
    token = issuer.mint(subject="p-42", line=BusinessLine.PINGOU, roles=[Role.USER, Role.ANALYTICS])
    assert verifier.verify(token) == Principal("p-42", BusinessLine.PINGOU, frozenset({Role.USER, Role.ANALYTICS}))


def test_an_expired_token_is_refused_with_its_reason(key_pair: tuple[TokenIssuer, TokenVerifier]) -> None:
    issuer, verifier = key_pair
    token = issuer.mint(subject="p-1", line=BusinessLine.MALL, roles=[Role.USER], ttl_seconds=-60)
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "TOKEN_EXPIRED"


def test_a_token_verified_once_is_still_refused_once_it_expires(
    key_pair: tuple[TokenIssuer, TokenVerifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, verifier = key_pair
    token = issuer.mint(subject="p-7", line=BusinessLine.PINGOU, roles=[Role.USER], ttl_seconds=60)
    assert verifier.verify(token).subject == "p-7"  # verified, and remembered
    assert verifier.verify(token).subject == "p-7"
    later = time.time() + 60 + 31  # past its expiry and the 30 s leeway
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "TOKEN_EXPIRED"


def test_a_refused_token_is_checked_again_each_time_never_remembered(
    key_pair: tuple[TokenIssuer, TokenVerifier], tmp_path: Path
) -> None:
    _, verifier = key_pair
    generate_key_pair(tmp_path / "other", tmp_path / "other.pub")
    forged = TokenIssuer.from_file(tmp_path / "other").mint(subject="p-8", line=BusinessLine.PINGOU, roles=[Role.USER])
    for _ in range(2):
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(forged)
        assert caught.value.reason == "TOKEN_INVALID"


def test_a_token_signed_by_another_key_is_refused(key_pair: tuple[TokenIssuer, TokenVerifier], tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "other", tmp_path / "other.pub")
    token = TokenIssuer.from_file(tmp_path / "other").mint(subject="x", line=BusinessLine.MALL, roles=[])
    with pytest.raises(Unauthenticated) as caught:
        key_pair[1].verify(token)
    assert caught.value.reason == "TOKEN_INVALID"


def test_an_unsigned_token_is_refused(key_pair: tuple[TokenIssuer, TokenVerifier]) -> None:
    token = jwt.encode({"sub": "x", "line": "mall", "roles": []}, key=None, algorithm="none")  # type: ignore[arg-type]  # an unsigned token on purpose
    with pytest.raises(Unauthenticated):
        key_pair[1].verify(token)


def craft(issuer: TokenIssuer, **claims: object) -> str:
    now = int(time.time())
    base = {
        "iss": "pingou-platform",
        "aud": "pingou-platform",
        "sub": "x",
        "iat": now,
        "exp": now + 600,
        "line": "mall",
        "roles": [],
    }
    return jwt.encode({**base, **claims}, issuer._key, algorithm="EdDSA")  # type: ignore[arg-type]  # an Ed25519 key


def test_unknown_line_or_role_in_claims_is_refused(key_pair: tuple[TokenIssuer, TokenVerifier]) -> None:
    issuer, verifier = key_pair
    for claim in ({"line": "bazaar"}, {"roles": ["root"]}):
        with pytest.raises(Unauthenticated, match="claims are not valid"):
            verifier.verify(craft(issuer, **claim))


def test_a_token_living_longer_than_a_day_is_refused(key_pair: tuple[TokenIssuer, TokenVerifier]) -> None:
    issuer, verifier = key_pair
    with pytest.raises(Unauthenticated, match="lifetime"):
        verifier.verify(craft(issuer, exp=int(time.time()) + 2 * 86400))


def test_the_private_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "k", tmp_path / "k.pub")
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


def test_require_line_denies_and_logs_a_cross_line_access() -> None:
    caller = Principal("p-1", BusinessLine.PINGOU, frozenset({Role.USER}))
    require_line(caller, BusinessLine.PINGOU)
    with capture_logs() as logs, pytest.raises(PermissionDenied) as caught:
        require_line(caller, BusinessLine.MALL)
    assert caught.value.reason == "LINE_MISMATCH"
    assert logs[0]["event"] == "cross_line_access_denied"
    assert logs[0]["target_line"] == BusinessLine.MALL


def test_require_role_accepts_any_of_the_roles() -> None:
    caller = Principal("svc", BusinessLine.MALL, frozenset({Role.SERVICE}))
    require_role(caller, Role.ANALYTICS, Role.SERVICE)
    with pytest.raises(PermissionDenied) as caught:
        require_role(caller, Role.OPERATOR)
    assert caught.value.reason == "ROLE_REQUIRED"


def test_the_current_principal_exists_only_inside_the_call() -> None:
    caller = Principal("p-1", BusinessLine.PINGOU, frozenset())
    with use_principal(caller):
        assert current_principal() is caller
    with pytest.raises(Unauthenticated):
        current_principal()


def test_service_credentials_mint_a_service_token_per_line_and_reuse_it(
    key_pair: tuple[TokenIssuer, TokenVerifier],
) -> None:
    from libs.auth import ServiceCredentials

    issuer, verifier = key_pair
    credentials = ServiceCredentials(issuer, service="order")
    pingou = credentials.token(BusinessLine.PINGOU)
    assert credentials.token(BusinessLine.PINGOU) == pingou
    assert verifier.verify(pingou) == Principal("order", BusinessLine.PINGOU, frozenset({Role.SERVICE}))
    assert verifier.verify(credentials.token(BusinessLine.MALL)).line is BusinessLine.MALL
