"""Transport security as configuration: TLS for a service's port, mutual TLS when it names the CA its
clients' certificates must come from, and TLS (with this service's own certificate) for its outgoing
calls. Plaintext stays the local default: nothing here is on unless its files are configured.

Certificates are read from files and reloaded when they change: the server asks for its certificate
configuration on each new connection, and a changed file (its modification time) is read again, so a
rotated certificate is served without a restart. A file caught half-written keeps the previous
configuration until the next connection. Outgoing channels read the files when they are opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from libs.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ServerTls:
    cert_file: Path  # PEM certificate chain of this service
    key_file: Path  # its private key
    client_ca_file: Path | None = None  # set: clients must present a certificate signed by this CA (mTLS)

    @property
    def mutual(self) -> bool:
        return self.client_ca_file is not None

    def files(self) -> tuple[Path, ...]:
        return (self.cert_file, self.key_file, *((self.client_ca_file,) if self.client_ca_file else ()))


@dataclass(frozen=True)
class ClientTls:
    ca_file: Path  # the CA the called services' certificates must come from
    cert_file: Path | None = None  # this caller's certificate, for services that require one (mTLS)
    key_file: Path | None = None


class _ReloadingCertificates:
    """gRPC's certificate-configuration fetcher: None keeps the current configuration, a new one replaces
    it for the connections that follow."""

    def __init__(self, tls: ServerTls):
        self._tls = tls
        self._seen: tuple[int, ...] | None = None

    def initial(self) -> grpc.ServerCertificateConfiguration:
        configuration = self._read()
        self._seen = self._mtimes()
        return configuration

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            mtimes = self._mtimes()
            if mtimes == self._seen:
                return None
            configuration = self._read()
        except (OSError, ValueError) as error:
            log.warning("tls_reload_failed", error=str(error))
            return None
        self._seen = mtimes
        log.info("tls_certificates_reloaded", cert=str(self._tls.cert_file))
        return configuration

    def _mtimes(self) -> tuple[int, ...]:
        return tuple(path.stat().st_mtime_ns for path in self._tls.files())

    def _read(self) -> grpc.ServerCertificateConfiguration:
        key, chain = self._tls.key_file.read_bytes(), self._tls.cert_file.read_bytes()
        if b"PRIVATE KEY" not in key or b"CERTIFICATE" not in chain:
            raise ValueError("the TLS key or certificate file is not PEM (yet)")
        client_ca = self._tls.client_ca_file.read_bytes() if self._tls.client_ca_file else None
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=client_ca)


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Credentials for a server port that reload their files when they change."""
    certificates = _ReloadingCertificates(tls)
    return grpc.dynamic_ssl_server_credentials(
        certificates.initial(), certificates, require_client_authentication=tls.mutual
    )


def channel_credentials(tls: ClientTls) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca_file.read_bytes(),
        private_key=tls.key_file.read_bytes() if tls.key_file else None,
        certificate_chain=tls.cert_file.read_bytes() if tls.cert_file else None,
    )


_outgoing: ClientTls | None = None


def use_client_tls(tls: ClientTls | None) -> None:
    """How this process's channels to other services are secured (set once at start from its settings;
    None: plaintext). One process is one service, so one setting serves all its channels."""
    global _outgoing
    _outgoing = tls


def client_tls() -> ClientTls | None:
    return _outgoing
