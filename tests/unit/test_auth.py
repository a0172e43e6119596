from __future__ import annotations

import json
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
from libs.auth.keys import KeySet
from libs.auth.local import LocalKeys
from libs.core import BusinessLine, PermissionDenied, Unauthenticated


@pytest.fixture(scope="module")
def local_keys(tmp_path_factory: pytest.TempPathFactory) -> LocalKeys:
    return LocalKeys.make(tmp_path_factory.mktemp("keys"), ["order", "groupbuy", "payments"])


@pytest.fixture(scope="module")
def key_pair(local_keys: LocalKeys) -> tuple[TokenIssuer, TokenVerifier]:
    """The issuer key (people's tokens) and a verifier trusting the whole key set."""
    return TokenIssuer.from_file(local_keys.issuer_file), TokenVerifier.from_file(local_keys.key_set_file)


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


def other_issuer(tmp_path: Path) -> TokenIssuer:
    """A well-formed key that no key set trusts."""
    generate_key_pair(tmp_path / "other", tmp_path / "other.pub")
    return TokenIssuer.from_file(tmp_path / "other")


def test_a_refused_token_is_checked_again_each_time_never_remembered(
    key_pair: tuple[TokenIssuer, TokenVerifier], tmp_path: Path
) -> None:
    _, verifier = key_pair
    forged = other_issuer(tmp_path).mint(subject="p-8", line=BusinessLine.PINGOU, roles=[Role.USER])
    for _ in range(2):
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(forged)
        assert caught.value.reason == "KEY_UNKNOWN"


def test_a_token_signed_by_a_key_outside_the_key_set_is_refused(
    key_pair: tuple[TokenIssuer, TokenVerifier], tmp_path: Path
) -> None:
    token = other_issuer(tmp_path).mint(subject="x", line=BusinessLine.MALL, roles=[Role.OPERATOR])
    with pytest.raises(Unauthenticated) as caught:
        key_pair[1].verify(token)
    assert caught.value.reason == "KEY_UNKNOWN"


def test_a_token_naming_no_key_or_a_trusted_key_it_was_not_signed_with_is_refused(
    key_pair: tuple[TokenIssuer, TokenVerifier], tmp_path: Path
) -> None:
    issuer, verifier = key_pair
    other = other_issuer(tmp_path)
    claims = jwt.decode(
        issuer.mint(subject="x", line=BusinessLine.MALL, roles=[Role.OPERATOR]), options={"verify_signature": False}
    )
    without_kid = jwt.encode(claims, other._key, algorithm="EdDSA")
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(without_kid)
    assert caught.value.reason == "KEY_UNKNOWN"
    # The issuer's key id on a token signed by another key: the signature does not hold.
    borrowed_kid = jwt.encode(claims, other._key, algorithm="EdDSA", headers={"kid": issuer.kid})
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(borrowed_kid)
    assert caught.value.reason == "TOKEN_INVALID"


def test_a_service_key_signs_only_its_own_subject_with_the_service_role(
    local_keys: LocalKeys, key_pair: tuple[TokenIssuer, TokenVerifier]
) -> None:
    _, verifier = key_pair
    groupbuy = TokenIssuer.from_file(local_keys.service_key_file("groupbuy"))
    assert (
        verifier.verify(groupbuy.mint(subject="groupbuy", line=BusinessLine.PINGOU, roles=[Role.SERVICE])).subject
        == "groupbuy"
    )
    beyond = [
        ("payments", [Role.SERVICE]),  # speaking for another service: confirming payments
        ("groupbuy", [Role.OPERATOR]),  # an operator token on either line
        ("pu_1000001", [Role.USER]),  # a person
        ("groupbuy", [Role.SERVICE, Role.ANALYTICS]),
    ]
    for subject, roles in beyond:
        for line in BusinessLine:
            with capture_logs() as logs, pytest.raises(Unauthenticated) as caught:
                verifier.verify(groupbuy.mint(subject=subject, line=line, roles=roles))
            assert caught.value.reason == "KEY_NOT_ALLOWED", (subject, roles)
            assert logs[0]["event"] == "token_beyond_its_key"


def test_the_issuer_key_cannot_sign_for_a_service(key_pair: tuple[TokenIssuer, TokenVerifier]) -> None:
    issuer, verifier = key_pair
    assert (
        verifier.verify(issuer.mint(subject="ops-1", line=BusinessLine.MALL, roles=[Role.OPERATOR])).subject == "ops-1"
    )
    for roles in ([Role.SERVICE], [Role.SERVICE, Role.OPERATOR]):
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(issuer.mint(subject="payments", line=BusinessLine.MALL, roles=roles))
        assert caught.value.reason == "KEY_NOT_ALLOWED"


def test_a_key_set_round_trips_and_refuses_a_key_whose_id_is_not_its_thumbprint(local_keys: LocalKeys) -> None:
    text = local_keys.key_set_file.read_text()
    parsed = KeySet.parse(text)
    assert {key.name for key in parsed} == {"issuer", "order", "groupbuy", "payments"}
    assert KeySet.parse(parsed.to_json()).to_json() == parsed.to_json()
    document = json.loads(text)
    document["keys"][0]["kid"] = "made-up"
    with pytest.raises(ValueError, match="thumbprint"):
        KeySet.parse(json.dumps(document))
    for broken in ("", "{}", '{"keys": []}', '{"keys": [{"kty": "RSA"}]}'):
        with pytest.raises(ValueError, match=r"JSON|keys|trusted"):
            KeySet.parse(broken)


def test_local_keys_mint_only_what_a_key_may_sign(
    local_keys: LocalKeys, key_pair: tuple[TokenIssuer, TokenVerifier]
) -> None:
    token = local_keys.mint(subject="payments", line=BusinessLine.MALL, roles=[Role.SERVICE])
    assert key_pair[1].verify(token).subject == "payments"
    with pytest.raises(ValueError, match="no local key"):
        local_keys.mint(subject="intruder", line=BusinessLine.MALL, roles=[Role.SERVICE])
    with pytest.raises(ValueError, match="together"):
        local_keys.mint(subject="order", line=BusinessLine.MALL, roles=[Role.SERVICE, Role.OPERATOR])


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
        "roles": ["operator"],
    }
    return jwt.encode({**base, **claims}, issuer._key, algorithm="EdDSA", headers={"kid": issuer.kid})


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
    local_keys: LocalKeys, key_pair: tuple[TokenIssuer, TokenVerifier]
) -> None:
    from libs.auth import ServiceCredentials

    _, verifier = key_pair
    credentials = ServiceCredentials.from_file(local_keys.service_key_file("order"), service="order")
    pingou = credentials.token(BusinessLine.PINGOU)
    assert credentials.token(BusinessLine.PINGOU) == pingou
    assert verifier.verify(pingou) == Principal("order", BusinessLine.PINGOU, frozenset({Role.SERVICE}))
    assert verifier.verify(credentials.token(BusinessLine.MALL)).line is BusinessLine.MALL
