"""What every sender shares: the document it sends, what a receiver refused, TLS, severity words."""

from __future__ import annotations

import os
import select
import socket
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from alertmodel.errors import ServiceUnavailableError

SYSLOG_LEVEL = {0: 6, 1: 4, 2: 3, 3: 2}
"""Alert severity (0 Info .. 3 Critical) → syslog severity (6 informational .. 2 critical)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One alert on its way out: its stored row (for headers) and the document its format rendered."""

    row: dict[str, Any]
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """A document the receiver refused for good (a mapping error): it is dead-lettered, the rest go on."""

    alert_uuid: str
    document: bytes
    reason: str


def tls_context(
    verify: bool, ca_file: str | None, client_certificate: str | None, client_key: SecretStr | None
) -> ssl.SSLContext:
    """A client TLS context; a client certificate given as PEM text is loaded through a private temp file."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_certificate:
        if client_key is None:
            raise ValueError("client_key is required with client_certificate")
        with tempfile.TemporaryDirectory(prefix="alertflow-tls-") as folder:
            cert = os.path.join(folder, "client.pem")
            key = os.path.join(folder, "client.key")
            for path, text in ((cert, client_certificate), (key, client_key.get_secret_value())):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
            context.load_cert_chain(cert, key)
    return context


class StreamConnection:
    """A TCP (optionally TLS) connection that is opened on first use and reopened after a failure."""

    def __init__(self, kind: str, host: str, port: int, timeout_s: float, tls: ssl.SSLContext | None) -> None:
        self.kind, self.host, self.port, self.timeout_s, self.tls = kind, host, port, timeout_s, tls
        self.sock: socket.socket | None = None

    def send(self, data: bytes) -> None:
        """Write `data` whole; ServiceUnavailableError (connection dropped) if the receiver is gone."""
        try:
            sock = self._open()
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise ServiceUnavailableError(f"{self.kind} {self.host}:{self.port}: {exc}") from exc

    def _open(self) -> socket.socket:
        if self.sock is not None and self._peer_closed(self.sock):
            self.close()
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_hostname=self.host)
                except BaseException:
                    sock.close()
                    raise
            self.sock = sock
        return self.sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True when the receiver has closed its side: writing on would lose data into a dead socket.

        These receivers never write back, so end of stream is the only news expected; a TLS
        record that carries no data (a TLS 1.3 session ticket) is read without waiting.
        """
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        sock.setblocking(False)
        try:
            return sock.recv(4096) == b""
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(self.timeout_s)

    def close(self) -> None:
        """Close the connection (the next send opens a new one)."""
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
