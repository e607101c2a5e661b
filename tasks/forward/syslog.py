"""Syslog RFC 5424 messages over TCP or TLS, framed by octet counting (RFC 6587 3.4.1 / RFC 5425)."""

from __future__ import annotations

import socket

from blocks.forwarders import SyslogForwarder
from tasks.forward.common import Refused, StreamConnection, tls_context
from tasks.forward.render import SD_ID, Window, header_token, syslog_message

__all__ = ["SD_ID", "SyslogSender", "syslog_hostname", "syslog_message"]


def syslog_hostname(block: SyslogForwarder) -> str:
    """The HOSTNAME of the block's messages: its `hostname`, else this host's name, as a header token."""
    return header_token(block.hostname or socket.gethostname(), 255)


class SyslogSender:
    """Sends alerts to one syslog server."""

    def __init__(self, block: SyslogForwarder) -> None:
        self.block = block
        self.origin = f"syslog{'+tls' if block.tls else ''}://{block.host}:{block.port}"
        tls = (
            tls_context(block.verify_tls, block.ca_file, block.client_certificate, block.client_key)
            if block.tls
            else None
        )
        self.stream = StreamConnection("syslog", block.host, block.port, block.timeout_s, tls)

    def send_window(self, window: Window) -> list[Refused]:
        """Send a window's frames; ServiceUnavailableError if the server cannot be reached."""
        self.stream.send(window.wire)
        return []

    def close(self) -> None:
        """Close the connection."""
        self.stream.close()
