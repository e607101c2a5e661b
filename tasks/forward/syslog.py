"""Syslog RFC 5424 messages over TCP or TLS, framed by octet counting (RFC 6587 3.4.1 / RFC 5425)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

import orjson

from blocks.forwarders import SyslogForwarder
from tasks.forward.common import SYSLOG_LEVEL, Outgoing, Refused, StreamConnection, tls_context

SD_ID = "alertflow@32473"  # 32473: the private enterprise number RFC 5612 sets aside for examples


def _header_token(value: str, limit: int) -> str:
    """A header field: printable ASCII without spaces, at most `limit` characters, or '-'."""
    cleaned = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return cleaned or "-"


def _sd_value(value: Any) -> str:
    """A structured-data parameter value with '"', '\\' and ']' escaped as RFC 5424 6.3.3 asks."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(item: Outgoing, facility: int, hostname: str, app_name: str) -> bytes:
    """One alert as an RFC 5424 message: the alert's keys as structured data, the document as JSON MSG."""
    row = item.row
    priority = facility * 8 + SYSLOG_LEVEL.get(row["severity"], 6)
    collected = row["time_collr"]
    if isinstance(collected, datetime):
        stamp = collected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        stamp = "-"
    params = " ".join(
        f'{name}="{_sd_value(row[name])}"' for name in ("alert_uuid", "source", "severity", "event")
    )
    header = f"<{priority}>1 {stamp} {hostname} {app_name} - alert [{SD_ID} {params}] "
    return header.encode() + orjson.dumps(item.document, option=orjson.OPT_NAIVE_UTC)


class SyslogSender:
    """Sends alerts to one syslog server."""

    def __init__(self, block: SyslogForwarder) -> None:
        self.block = block
        self.origin = f"syslog{'+tls' if block.tls else ''}://{block.host}:{block.port}"
        self.hostname = _header_token(block.hostname or socket.gethostname(), 255)
        tls = (
            tls_context(block.verify_tls, block.ca_file, block.client_certificate, block.client_key)
            if block.tls
            else None
        )
        self.stream = StreamConnection("syslog", block.host, block.port, block.timeout_s, tls)

    def send(self, items: list[Outgoing]) -> list[Refused]:
        """Send a batch; ServiceUnavailableError if the server cannot be reached."""
        frames = []
        for item in items:
            message = syslog_message(item, self.block.facility, self.hostname, self.block.app_name)
            frames.append(b"%d %s" % (len(message), message))
        self.stream.send(b"".join(frames))
        return []

    def close(self) -> None:
        """Close the connection."""
        self.stream.close()
