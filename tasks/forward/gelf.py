"""Graylog GELF 1.1: UDP datagrams (zlib-compressed, chunked when large) or TCP frames ended by a NUL byte."""

from __future__ import annotations

import os
import socket
import zlib
from datetime import datetime
from typing import Any

import orjson

from alertmodel.errors import ServiceUnavailableError
from blocks.forwarders import GelfForwarder
from tasks.forward.common import SYSLOG_LEVEL, Outgoing, Refused, StreamConnection, tls_context

CHUNK_MAGIC = b"\x1e\x0f"
CHUNK_HEADER = 12  # magic (2) + message id (8) + sequence number (1) + count (1)
MAX_CHUNKS = 128


_AS_IS = frozenset({str, int, float, datetime})  # orjson writes a datetime as ISO 8601 text
_NAMES: dict[str, str] = {}


def _gelf_name(key: str) -> str:
    """The GELF additional field of a document key: `_key`, and `_id_` for `id` (GELF reserves `_id`)."""
    name = "_id_" if key == "id" else "_" + key
    if len(_NAMES) < 4096:  # formats have a fixed set of keys; the cache stays small
        _NAMES[key] = name
    return name


def gelf_message(item: Outgoing, host: str) -> dict[str, Any]:
    """The GELF message of one alert: GELF's own fields, then every document field as `_name`.

    GELF additional fields are strings or numbers, so nested values travel as JSON text; `_id`
    is reserved by GELF, so a document's `id` goes as `_id_`.
    """
    row = item.row
    collected = row["time_collr"]
    message: dict[str, Any] = {
        "version": "1.1",
        "host": host,
        "short_message": str(row["description"]) or "alert",
        "timestamp": collected.timestamp() if isinstance(collected, datetime) else collected,
        "level": SYSLOG_LEVEL.get(row["severity"], 6),
    }
    for key, value in item.document.items():
        if type(value) in _AS_IS:
            message[_NAMES.get(key) or _gelf_name(key)] = value
        elif value is not None:  # GELF has no null; nested values and booleans travel as JSON text
            message[_NAMES.get(key) or _gelf_name(key)] = orjson.dumps(
                value, option=orjson.OPT_NAIVE_UTC
            ).decode()
    return message


def udp_datagrams(payload: bytes, chunk_size: int) -> list[bytes]:
    """`payload` (already compressed) as one datagram, or as GELF chunks of at most `chunk_size` bytes."""
    if len(payload) <= chunk_size:
        return [payload]
    room = chunk_size - CHUNK_HEADER
    count = -(-len(payload) // room)
    if count > MAX_CHUNKS:
        raise ValueError(
            f"a GELF message of {len(payload)} bytes needs {count} chunks, more than {MAX_CHUNKS}"
        )
    message_id = os.urandom(8)
    return [
        CHUNK_MAGIC + message_id + bytes((i, count)) + payload[i * room : (i + 1) * room]
        for i in range(count)
    ]


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

    def encode(self, item: Outgoing) -> bytes:
        """One alert as GELF JSON."""
        return orjson.dumps(gelf_message(item, self.host), option=orjson.OPT_NAIVE_UTC)

    def send(self, items: list[Outgoing]) -> list[Refused]:
        """Send a batch; ServiceUnavailableError if the input cannot be reached."""
        if self.stream is not None:
            self.stream.send(b"".join(self.encode(item) + b"\0" for item in items))
            return []
        refused = []
        sock = self._udp()
        for item in items:
            payload = self.encode(item)
            try:
                datagrams = udp_datagrams(zlib.compress(payload, 1), self.block.udp_chunk_size)
            except ValueError as exc:
                refused.append(Refused(item.row["alert_uuid"], payload, str(exc)))
                continue
            try:
                for datagram in datagrams:
                    sock.send(datagram)
            except OSError as exc:
                self.close()
                raise ServiceUnavailableError(f"GELF {self.origin}: {exc}") from exc
        return refused

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
