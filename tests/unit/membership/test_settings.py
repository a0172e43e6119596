"""Membership's settings: the signing key and the segmentation address are checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.auth.local import LocalKeys
from libs.settings import SettingsError, load_settings
from services.membership.bootstrap import MembershipSettings


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    local = LocalKeys.make(tmp_path / "keys", ["membership"])
    private, public = local.service_key_file("membership"), local.service_key_file("membership").with_suffix(".pub")
    for name, value in {
        "GRPC_PORT": "50054",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "JWT_KEY_SET_FILE": str(local.key_set_file),
        "SEGMENTATION_ADDRESS": "127.0.0.1:50053",
        "SERVICE_SIGNING_KEY_FILE": str(private),
    }.items():
        monkeypatch.setenv(name, value)
    return private, public


@pytest.mark.usefixtures("keys")
def test_defaults_name_the_service_and_its_coupons() -> None:
    settings = load_settings(MembershipSettings)
    assert (settings.service_name, settings.coupons_per_month, settings.segmentation_address) == (
        "membership",
        5,
        "127.0.0.1:50053",
    )


def test_a_public_key_is_not_a_signing_key(monkeypatch: pytest.MonkeyPatch, keys: tuple[Path, Path]) -> None:
    monkeypatch.setenv("SERVICE_SIGNING_KEY_FILE", str(keys[1]))
    with pytest.raises(SettingsError, match=r"SERVICE_SIGNING_KEY_FILE: .*not a PEM private key"):
        load_settings(MembershipSettings)


@pytest.mark.usefixtures("keys")
def test_a_missing_signing_key_or_address_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SERVICE_SIGNING_KEY_FILE", str(tmp_path / "absent.key"))
    monkeypatch.delenv("SEGMENTATION_ADDRESS")
    with pytest.raises(SettingsError) as caught:
        load_settings(MembershipSettings)
    assert "SERVICE_SIGNING_KEY_FILE: " in str(caught.value)
    assert "no such file" in str(caught.value)
    assert "SEGMENTATION_ADDRESS: Field required" in str(caught.value)
