"""Graylog GELF 1.1: UDP datagrams (zlib-compressed, chunked when large) or TCP frames ended by a NUL byte."""

from __future__ import annotations

import socket

from alertmodel.errors import ServiceUnavailableError
from blocks.forwarders import GelfForwarder
from tasks.forward.common import Refused, StreamConnection, tls_context
from tasks.forward.render import Window, gelf_message, udp_datagrams

__all__ = ["GelfSender", "gelf_message", "udp_datagrams"]


class GelfSender:
    """Sends alerts to one GELF input."""

    def __init__(self, block: GelfForwarder) -> None:
        self.block = block
        self.origin = f"gelf+{block.protocol}://{block.host}:{block.port}"
        self.host = socket.gethostname()
        self.stream: StreamConnection | None = None
        self.udp: socket.socket | None = None
        if block.protocol == "tcp":
            tls = (
                tls_context(block.verify_tls, block.ca_file, block.client_certificate, block.client_key)
                if block.tls
                else None
            )
            self.stream = StreamConnection("GELF", block.host, block.port, block.timeout_s, tls)

    def send_window(self, window: Window) -> list[Refused]:
        """Send a window's messages; ServiceUnavailableError if the input cannot be reached."""
        if self.stream is not None:
            self.stream.send(window.wire)
            return []
        sock = self._udp()
        try:
            for datagram in window.documents:
                sock.send(datagram)
        except OSError as exc:
            self.close()
            raise ServiceUnavailableError(f"GELF {self.origin}: {exc}") from exc
        return []

    def _udp(self) -> socket.socket:
        if self.udp is None:
            sock = socket.socket(
                socket.AF_INET6 if ":" in self.block.host else socket.AF_INET, socket.SOCK_DGRAM
            )
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
            sock.connect((self.block.host, self.block.port))
            self.udp = sock
        return self.udp

    def close(self) -> None:
        """Close the socket."""
        if self.stream is not None:
            self.stream.close()
        if self.udp is not None:
            self.udp.close()
            self.udp = None
