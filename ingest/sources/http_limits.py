"""What one client of `POST /ingest` may cost the worker (apart from ingest.sources.http: no uvicorn import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one client may cost the worker; the README's "HTTP ingest limits" explains the choices."""

    max_body_bytes: int = 10 * 1024 * 1024
    """A larger body gets 413 (at once when its Content-Length says so)."""
    max_line_bytes: int = 1024 * 1024
    """A body with a longer line (or array element) gets 413: no IDS writes a 1 MiB event."""
    max_connections: int = 64
    """Open connections at most; the next one is answered 503 with Retry-After and closed."""
    max_requests: int = 16
    """Authenticated requests being read or stored at once; more get 503 with Retry-After."""
    header_timeout_s: float = 10.0
    """The request line and headers must be complete this long after connecting (or the last answer)."""
    read_timeout_s: float = 10.0
    """Longest wait for the next piece of a body (408 and closed beyond)."""
    body_timeout_s: float = 120.0
    """Longest total wait for a body's pieces (408 beyond): a trickling client cannot stay for ever."""
    part_lines: int = 1000
    """A body enters the worker in deliveries of at most this many lines (the worker's batch size)."""
    part_bytes: int = 256 * 1024
    """... and of about this many bytes at most (plus one line)."""
    retry_after_s: int = 1
