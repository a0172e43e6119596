"""Typed configuration from environment variables, validated once at start.

A service declares a subclass of `ServiceSettings` and calls `load_settings(MySettings)` in its
bootstrap. A missing or malformed variable raises `SettingsError` whose message names the variable,
and `exit_on_bad_settings` turns that into a one-line message and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from libs.auth.keys import KeySet
from libs.core import BusinessLine
from libs.core.paging import read_page_token_keys

S = TypeVar("S", bound=BaseSettings)


def _holds_a_private_key(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"no such file: {value}")
    try:
        key = serialization.load_pem_private_key(value.read_bytes(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):  # service tokens are EdDSA, like every token here
        raise ValueError(f"{value} is not a PEM private key (Ed25519, unencrypted)")
    return value


# The key a service signs its own short-lived service tokens with, for the services it calls.
PrivateKeyFile = Annotated[Path, AfterValidator(_holds_a_private_key)]


def _is_a_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"no such file: {value}")
    return value


ExistingFile = Annotated[Path, AfterValidator(_is_a_file)]
# Where another service answers: host:port.
ServiceAddress = Annotated[str, Field(pattern=r"^\S+:[0-9]{1,5}$")]


def _holds_page_token_keys(value: Path) -> Path:
    read_page_token_keys(value)  # ValueError saying what is wrong with the file, never showing a key
    return value


# The secret a service signs its page tokens with (libs.core.paging: hex keys, one per line, the first
# signs), the same file for every replica of the service.
PageTokenKeyFile = Annotated[Path, AfterValidator(_holds_page_token_keys)]


def _comma_separated(value: object) -> object:
    return frozenset(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value


# Service names (token subjects), given as `a,b,c`: the callers a method accepts besides its roles.
ServiceNames = Annotated[frozenset[str], NoDecode, BeforeValidator(_comma_separated)]


class SettingsError(Exception):
    """The environment does not describe a valid configuration."""


class ServiceSettings(BaseSettings):
    """What every service process needs. Variable names are the field names in upper case."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    service_name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(ge=0, le=65535)  # 0 picks a free port (tests)
    # Lines this instance serves: production runs one instance set per line, locally one serves both.
    served_lines: Annotated[frozenset[BusinessLine], NoDecode] = frozenset(BusinessLine)
    database_url: str = Field(pattern=r"^postgres(ql)?://")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap_servers: str = Field(min_length=1)
    kafka_topic_prefix: str = Field(default="", pattern=r"^[a-z0-9_.-]*$")
    kafka_replication_factor: int = Field(default=1, ge=1, le=5)
    jwt_key_set_file: Path  # the trusted keys (JWKS) every token is verified with
    shutdown_grace_seconds: float = Field(default=10.0, gt=0, le=120)
    # Seconds between reporting NOT_SERVING and refusing new calls, so load balancers stop routing first.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0, le=60)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    otel_exporter_otlp_endpoint: str | None = None
    # Transport security (off, plaintext, unless set): this service's certificate and key serve TLS on its
    # port; with TLS_CLIENT_CA_FILE its clients must present a certificate from that CA (mutual TLS);
    # TLS_CA_FILE turns TLS on for its calls to other services (verified against that CA, presenting its
    # own certificate). Files are PEM, reloaded when they change.
    tls_cert_file: ExistingFile | None = None
    tls_key_file: ExistingFile | None = None
    tls_client_ca_file: ExistingFile | None = None
    tls_ca_file: ExistingFile | None = None

    @field_validator("served_lines", mode="before")
    @classmethod
    def _parse_lines(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(BusinessLine.parse(part.strip()) for part in value.split(",") if part.strip())
        return value

    @field_validator("served_lines")
    @classmethod
    def _at_least_one_line(cls, value: frozenset[BusinessLine]) -> frozenset[BusinessLine]:
        if not value:
            raise ValueError("name at least one business line")
        return value

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> ServiceSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("TLS_CLIENT_CA_FILE: mutual TLS needs TLS_CERT_FILE and TLS_KEY_FILE too")
        return self

    @field_validator("jwt_key_set_file")
    @classmethod
    def _file_holds_a_key_set(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no such file: {value}")
        try:
            KeySet.from_file(value)
        except ValueError as error:
            raise ValueError(f"{value} is not a key set: {error}") from None
        return value


def load_settings(settings_type: type[S]) -> S:
    """Read and validate `settings_type` from the environment, naming every bad variable."""
    try:
        return settings_type()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            variable = "_".join(str(part) for part in item["loc"][:1]).upper() or "?"
            given = item.get("input")
            shown = "" if given is None or isinstance(given, dict) else f" (got {given!r})"
            problems.append(f"{variable}: {item['msg']}{shown}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@contextmanager
def exit_on_bad_settings() -> Iterator[None]:
    """Turn a SettingsError into one clear line on stderr and exit status 2 (fail fast at start)."""
    try:
        yield
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        raise SystemExit(2) from None
