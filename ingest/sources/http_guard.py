"""uvicorn's HTTP/1.1 protocol with the two limits it lacks: a connection cap and a header deadline.

uvicorn closes an idle keep-alive connection, but a connection that never completes its first
request line and headers (or trickles them a byte at a time) stays open for ever; its
`limit_concurrency` answers 503 only once a request arrived, without Retry-After. Here a
connection over the cap gets a 503 with Retry-After and is closed at once, and one that has no
request in the application's hands closes when `header_timeout_s` passed since it opened or
since its last response. Body reads are bounded in the application (ingest.sources.http).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

_BUSY_BODY = b'{"error": "too many connections; retry later"}'


def guarded_protocol(max_connections: int, header_timeout_s: float, retry_after_s: int) -> type[H11Protocol]:
    """An H11Protocol class with these limits, for `uvicorn.Config(http=...)`."""
    busy = (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Retry-After: %d\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s"
    ) % (retry_after_s, len(_BUSY_BODY), _BUSY_BODY)
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"max_connections": max_connections, "header_timeout_s": header_timeout_s, "busy_answer": busy},
    )


class GuardedH11Protocol(H11Protocol):
    """Use `guarded_protocol` to set the limits."""

    max_connections: ClassVar[int]
    header_timeout_s: ClassVar[float]
    busy_answer: ClassVar[bytes]
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(self.busy_answer)
            transport.close()  # stops reading at once; connection_lost drops it from the count
            return
        self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_deadline()  # for the next request's headers, or the rest of a body nobody reads

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.header_timeout_s, self._deadline_passed)

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:  # no request is being served
            self.transport.close()
