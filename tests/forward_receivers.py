"""Receivers the forwarders are tested (and benchmarked) against, all on loopback.

- GelfReceiver: a Graylog GELF input on UDP (reassembles chunks, inflates zlib/gzip) and TCP
  (splits on NUL), optionally TLS; keeps each decoded message.
- BulkServer: answers `_bulk` as Elasticsearch 8 does: a per-item result with `errors`, the
  `X-Elastic-Product` header the official client checks, documents kept by `_id` (a resend
  overwrites), dynamic-mapping conflicts answered 400 per item, and optional 429s per item.
"""

from __future__ import annotations

import gzip
import http.server
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import orjson


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody listens on now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inflate(payload: bytes) -> bytes:
    """A GELF payload as JSON bytes: zlib and gzip are inflated, plain JSON passes."""
    if payload[:2] == b"\x1f\x8b":
        return gzip.decompress(payload)
    if payload[:1] == b"\x78":
        return zlib.decompress(payload)
    return payload


class GelfReceiver:
    """A GELF input on 127.0.0.1 that keeps every message it decodes (`messages`) and when it came."""

    def __init__(
        self, protocol: str = "tcp", port: int | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.protocol, self.tls = protocol, tls
        self.port = port or free_port(socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM)
        self.messages: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        self.count = 0
        self.keep = True
        self.lock = threading.Lock()
        self.chunks: dict[bytes, dict[int, bytes]] = {}
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._running = False

    def start(self) -> GelfReceiver:
        """Listen (again) on the same port."""
        kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.protocol == "udp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        sock.bind(("127.0.0.1", self.port))
        if self.protocol == "tcp":
            sock.listen(16)
        sock.settimeout(0.2)
        self._listener, self._running = sock, True
        target = self._udp_loop if self.protocol == "udp" else self._accept_loop
        self._spawn(target, sock)
        return self

    def stop(self) -> None:
        """Close the input and every connection: the receiver is gone."""
        self._running = False
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                sock.close()
        self._sockets.clear()
        self._listener = None

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.tls is not None:
                conn.settimeout(5)
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    conn.close()
                    continue
            conn.settimeout(0.2)
            self._sockets.append(conn)
            self._spawn(self._read_stream, conn)

    def _read_stream(self, conn: socket.socket) -> None:
        pending = b""
        while self._running:
            try:
                data = conn.recv(1 << 20)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except OSError:
                return
            if not data:
                return
            *frames, pending = (pending + data).split(b"\0")
            self._take(frames)

    def _udp_loop(self, sock: socket.socket) -> None:
        while self._running:
            try:
                datagram = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if datagram[:2] == b"\x1e\x0f":
                message_id, number, count = datagram[2:10], datagram[10], datagram[11]
                parts = self.chunks.setdefault(message_id, {})
                parts[number] = datagram[12:]
                if len(parts) < count:
                    continue
                datagram = b"".join(parts[i] for i in range(count))
                del self.chunks[message_id]
            self._take([inflate(datagram)])

    def _take(self, frames: list[bytes]) -> None:
        now = time.time()
        decoded = [orjson.loads(frame) for frame in frames if frame]
        with self.lock:
            self.count += len(decoded)
            if self.keep:
                self.messages.extend(decoded)
                self.arrived.extend(now for _ in decoded)

    def uuids(self) -> set[str]:
        """The alert uuids of every message received."""
        with self.lock:
            return {m["_alert_uuid"] for m in self.messages}


class BulkServer:
    """A local HTTP server that answers `_bulk` as Elasticsearch 8 does."""

    def __init__(self, port: int | None = None, product_header: bool = True) -> None:
        self.port = port or free_port()
        self.product_header = product_header
        self.documents: dict[tuple[str, str], dict[str, Any]] = {}
        self.mapping: dict[str, dict[str, str]] = {}
        self.requests: list[dict[str, Any]] = []
        self.reject_next_429 = 0
        self.count = 0
        self.answered = 0
        self.keep = True
        self.lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BulkServer:
        """Serve (again) on the same port."""
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(
                    200, {"name": "test", "version": {"number": "8.19.3"}, "tagline": "You Know, for Search"}
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                path = self.path.split("?")[0]
                if not path.endswith("/_bulk"):
                    self._answer(404, {"error": "no handler", "status": 404})
                    return
                index = path.split("/")[1] if path.count("/") == 2 else None
                with owner.lock:
                    owner.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
                    )
                    answer = owner.bulk(body, index)
                self._answer(200, answer)

            do_PUT = do_POST

            def _answer(self, status: int, document: dict[str, Any]) -> None:
                payload = orjson.dumps(document)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if owner.product_header:
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                self.end_headers()
                self.wfile.write(payload)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop answering: the cluster is gone."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bulk(self, body: bytes, default_index: str | None) -> dict[str, Any]:
        """Index each action's document; per-item results in request order."""
        started = time.perf_counter()
        lines = body.split(b"\n")
        items, errors = [], False
        for i in range(0, len(lines) - 1, 2):
            if not lines[i]:
                continue
            action = orjson.loads(lines[i])
            op, meta = next(iter(action.items()))
            index, doc_id = meta.get("_index", default_index), meta.get("_id")
            document = orjson.loads(lines[i + 1])
            result: dict[str, Any] = {"_index": index, "_id": doc_id}
            if self.reject_next_429 > 0:
                self.reject_next_429 -= 1
                result |= {
                    "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"},
                }
                errors = True
            elif (conflict := self._conflict(index, document)) is not None:
                result |= {"status": 400, "error": {"type": "document_parsing_exception", "reason": conflict}}
                errors = True
            else:
                created = (index, doc_id) not in self.documents
                self.count += 1
                if self.keep:
                    self.documents[(index, doc_id)] = document
                else:
                    self.documents[(index, doc_id)] = {}
                result |= {"status": 201 if created else 200, "result": "created" if created else "updated"}
            items.append({op: result})
            self.answered += 1
        took = int((time.perf_counter() - started) * 1000)
        return {"took": took, "errors": errors, "items": items}

    def _conflict(self, index: str, document: dict[str, Any], prefix: str = "") -> str | None:
        """Mapping as Elasticsearch applies it: an explicit `ip` or `long` field refuses other values,
        and (dynamic mapping) a field's first value fixes object vs concrete value."""
        mapping = self.mapping.setdefault(index, {})
        for key, value in document.items():
            path = prefix + key
            kind = "object" if isinstance(value, dict) else "value"
            known = mapping.get(path)
            if known is None:
                mapping[path] = kind
            elif known == "ip":
                try:
                    ipaddress.ip_address(str(value))
                except ValueError:
                    return f"failed to parse field [{path}] of type [ip]. Preview of field's value: '{value}'"
            elif known == "long":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | str)
                    or not str(value).lstrip("-").isdigit()
                ):
                    return (
                        f"failed to parse field [{path}] of type [long]. Preview of field's value: '{value}'"
                    )
            elif known != kind:
                if known == "object":
                    return f"object mapping for [{path}] tried to parse field [{key}] as object, but found a concrete value"
                return f"failed to parse field [{path}] of type [keyword]: Can't get text on a START_OBJECT"
            if kind == "object":
                nested = self._conflict(index, value, path + ".")
                if nested is not None:
                    return nested
        return None


def wait_until(condition: Callable[[], bool], timeout_s: float = 20, what: str = "condition") -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout_s} s")
        time.sleep(0.05)
