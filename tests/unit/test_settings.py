from __future__ import annotations

from pathlib import Path

import pytest

from libs.auth.local import LocalKeys
from libs.core import BusinessLine
from libs.settings import ServiceSettings, SettingsError, exit_on_bad_settings, load_settings


@pytest.fixture
def valid_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_set = LocalKeys.make(tmp_path / "keys", ["catalog"]).key_set_file
    for name, value in {
        "SERVICE_NAME": "catalog",
        "GRPC_PORT": "50051",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/db",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "JWT_KEY_SET_FILE": str(key_set),
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("valid_env")
def test_valid_environment_loads_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVED_LINES", "pingou")
    settings = load_settings(ServiceSettings)
    assert settings.grpc_port == 50051
    assert settings.served_lines == frozenset({BusinessLine.PINGOU})


@pytest.mark.usefixtures("valid_env")
def test_both_lines_are_served_by_default() -> None:
    assert load_settings(ServiceSettings).served_lines == frozenset(BusinessLine)


@pytest.mark.usefixtures("valid_env")
def test_a_malformed_value_names_the_variable_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_PORT", "fifty")
    with pytest.raises(SettingsError, match=r"GRPC_PORT: .*integer.*'fifty'"):
        load_settings(ServiceSettings)


@pytest.mark.usefixtures("valid_env")
def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVED_LINES", "pingou,bazaar")
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(SettingsError) as caught:
        load_settings(ServiceSettings)
    assert "SERVED_LINES: " in str(caught.value)
    assert "bazaar" in str(caught.value)
    assert "DATABASE_URL: Field required" in str(caught.value)


@pytest.mark.usefixtures("valid_env")
def test_a_missing_key_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JWT_KEY_SET_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(SettingsError, match=r"JWT_KEY_SET_FILE: .*no such file"):
        load_settings(ServiceSettings)


@pytest.mark.usefixtures("valid_env")
def test_bad_settings_exit_with_status_2_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(SystemExit) as caught, exit_on_bad_settings():
        load_settings(ServiceSettings)
    assert caught.value.code == 2
    assert capsys.readouterr().err.startswith("invalid configuration: LOG_LEVEL")


@pytest.mark.usefixtures("valid_env")
def test_a_file_that_is_not_a_key_set_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    for text in ("not a key set", '{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k"}]}'):
        garbage.write_text(text)
        monkeypatch.setenv("JWT_KEY_SET_FILE", str(garbage))
        with pytest.raises(SettingsError, match=r"JWT_KEY_SET_FILE: .*is not a key set"):
            load_settings(ServiceSettings)
