"""`POST /ingest`: JSON lines or a JSON array, answered 202 only after every line committed.

Answers: 202 stored (or already stored); 400 when some lines could not be decoded or mapped
(those are dead-lettered with their reasons, the good ones stored) or the body is empty; 401
without the bearer token; 408 when the client stops sending; 413 over the body or line limit;
503 with Retry-After when too many requests are in flight, the worker is stopping, the store
refuses writes (disk full, database unreachable: answered at once), or the body could not be
stored in time (the client retries; alert_uuid makes the retry harmless).

What one client can cost is bounded (`HttpLimits`): connections are capped and must send
their headers in time (ingest.sources.http_guard), bodies must keep arriving, and a body is
never held whole: it is cut into lines as it arrives (ingest.sources.http_body) and enters the
worker's byte-bounded inbox in parts of at most `part_lines` lines, so a request holds about
one part and one unfinished line however large its body. A body answered 408 or 413 half-way
may have had parts stored already; they are stored once however often the client resends.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alertmodel.ingest_token import check_ingest_token
from ingest.delivery import Delivery, Inbox, Outcome
from ingest.sources.http_body import BodySplitter, LineTooLong
from ingest.sources.http_guard import guarded_protocol
from ingest.sources.http_limits import HttpLimits

log = logging.getLogger(__name__)

_SHOWN_REASONS = 20  # a 400 lists this many reasons; all of them are in the dead-letter table
_CLOSE = {"Connection": "close"}


class _ReadTimeout(Exception):
    """The client stopped sending its body."""


@dataclass(slots=True)
class _Part:
    """Lines of one body on their way into the inbox; `first` is the body line number of the first."""

    first: int
    lines: list[bytes] = field(default_factory=list)
    size: int = 0


_Queued = list[tuple[int, "asyncio.Future[tuple[str, Any]]"]]
"""Each queued part's first line number and the answer its delivery will settle."""


class HttpSource:
    """An HTTP endpoint served by uvicorn in its own thread; every request needs the bearer token."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        token: SecretStr,
        limits: HttpLimits | None = None,
        source: str = "auto",
        enqueue_timeout_s: float = 10.0,
        commit_timeout_s: float = 60.0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        check_ingest_token(token)
        self.host = host
        self.port = port
        # compared as digests: equal length whatever the client sends, and the secret is unwrapped once
        self._token_digest = hashlib.sha256(token.get_secret_value().encode()).digest()
        self.limits = limits or HttpLimits()
        self.source = source
        self.enqueue_timeout_s = enqueue_timeout_s
        self.commit_timeout_s = commit_timeout_s
        self.ssl_certfile, self.ssl_keyfile = ssl_certfile, ssl_keyfile  # both set: HTTPS
        self.name = f"{'https' if ssl_certfile else 'http'}://{host}:{port}/ingest"
        self._inbox: Inbox | None = None
        self._accepting = False
        self._active = 0  # requests past authentication, only touched on the event loop
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        """An endpoint never ends."""
        return False

    def app(self) -> Starlette:
        """The ASGI application (served by `start`, usable alone in tests)."""
        return Starlette(routes=[Route("/ingest", self._ingest, methods=["POST"])])

    def start(self, inbox: Inbox) -> None:
        """Serve on host:port from a background thread; returns once the socket listens."""
        self._inbox = inbox
        self._accepting = True
        limits = self.limits
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            http=guarded_protocol(limits.max_connections, limits.header_timeout_s, limits.retry_after_s),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=10,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="ingest-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the ingest endpoint could not listen on {self.host}:{self.port}")
            time.sleep(0.02)
        log.info("accepting POST %s", self.name)

    def stop_reading(self) -> None:
        """Answer 503 to new requests; requests already queued still get their answer."""
        self._accepting = False

    def close(self) -> None:
        """Stop the server."""
        self._accepting = False
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)

    # -- the endpoint ------------------------------------------------------------------------

    async def _ingest(self, request: Request) -> JSONResponse:
        if not self._bearer_matches(request):
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                401,
                headers={"WWW-Authenticate": "Bearer", **_CLOSE},
            )
        if not self._accepting or self._inbox is None:
            return self._busy("the worker is stopping; retry later")
        if self._inbox.refusing:  # disk full, database away: say so now rather than after commit_timeout_s
            return self._busy(f"{self._inbox.refusing}; retry later, duplicates are ignored")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            return await self._refuse(request, _too_large(self.limits.max_body_bytes))
        if self._active >= self.limits.max_requests:
            return self._busy(f"{self.limits.max_requests} requests are being stored; retry later")
        self._active += 1
        try:
            return await self._receive(request)
        finally:
            self._active -= 1

    async def _receive(self, request: Request) -> JSONResponse:
        """Cut the body into parts as it arrives, queue each part, then wait until all are stored."""
        client = request.client.host if request.client else "?"
        origin = f"{self.name} from {client}"
        limits = self.limits
        splitter = BodySplitter(limits.max_line_bytes)
        chunks = self._chunks(request)
        queued: _Queued = []
        part: _Part | None = None
        received = 0
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > limits.max_body_bytes:
                    return await self._refuse(request, _too_large(limits.max_body_bytes), chunks)
                for line in splitter.feed(chunk):
                    if part is None:
                        part = _Part(first=splitter.first_line)
                    part.lines.append(line)
                    part.size += len(line)
                    if len(part.lines) >= limits.part_lines or part.size >= limits.part_bytes:
                        following = part.first + len(part.lines)
                        if not await self._enqueue(part, origin, queued):
                            return self._busy("the worker is busy or stopping; retry later")
                        part = _Part(first=following)
        except _ReadTimeout:
            return JSONResponse({"error": "the body stopped arriving; send it at once"}, 408, headers=_CLOSE)
        except LineTooLong as exc:
            return await self._refuse(
                request, JSONResponse({"error": f"{exc}; split it"}, 413, headers=_CLOSE), chunks
            )
        except ClientDisconnect:
            return JSONResponse({"error": "the client went away"}, 400, headers=_CLOSE)
        if not splitter.seen_content:
            return JSONResponse({"error": "empty body; send JSON lines or a JSON array of events"}, 400)
        for line in splitter.finish():
            if part is None:
                part = _Part(first=splitter.first_line)
            part.lines.append(line)
        if part is not None and part.lines and not await self._enqueue(part, origin, queued):
            return self._busy("the worker is busy or stopping; retry later")
        return await self._answer(queued)

    async def _chunks(self, request: Request) -> AsyncIterator[bytes]:
        """The body's pieces; raises _ReadTimeout after a pause over `read_timeout_s` or when the
        waits together pass `body_timeout_s` (time spent queueing into the worker does not count)."""
        stream = request.stream()
        budget = self.limits.body_timeout_s
        while True:
            started = time.monotonic()
            try:
                with anyio.fail_after(max(min(self.limits.read_timeout_s, budget), 0)):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _ReadTimeout from None
            budget -= time.monotonic() - started
            if chunk:
                yield chunk

    async def _refuse(
        self, request: Request, answer: JSONResponse, chunks: AsyncIterator[bytes] | None = None
    ) -> JSONResponse:
        """Read (and drop) a modestly oversized body first, so the client gets the answer, not a reset."""
        left = 4 * self.limits.max_body_bytes
        try:
            async for chunk in chunks if chunks is not None else self._chunks(request):
                left -= len(chunk)
                if left < 0:
                    break
        except (_ReadTimeout, ClientDisconnect):
            pass
        answer.headers["Connection"] = "close"
        return answer

    async def _enqueue(self, part: _Part, origin: str, queued: _Queued) -> bool:
        """Put one part into the inbox (waiting for room); False when the worker refused it."""
        assert self._inbox is not None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[str, Any]] = loop.create_future()

        def settle(kind: str, value: Any) -> None:
            if not answer.done():
                answer.set_result((kind, value))

        if part.first > 1:  # dead-letter reasons count lines from the part's first
            origin = f"{origin}, body lines {part.first}-{part.first + len(part.lines) - 1}"
        delivery = Delivery(
            lines=part.lines,
            origin=origin,
            source=self.source,
            on_commit=lambda outcome: loop.call_soon_threadsafe(settle, "stored", outcome),
            on_abandon=lambda reason: loop.call_soon_threadsafe(settle, "abandoned", reason),
        )
        queued.append((part.first, answer))
        return bool(await anyio.to_thread.run_sync(self._inbox.put, delivery, self.enqueue_timeout_s))

    async def _answer(self, queued: _Queued) -> JSONResponse:
        """202, or 400 naming the dead-lettered lines by their line in the body, once every part committed."""
        try:
            settled = await asyncio.wait_for(
                asyncio.gather(*(answer for _, answer in queued)), self.commit_timeout_s
            )
        except TimeoutError:
            return JSONResponse(
                {"error": "not stored yet (the database is slow or down); retry, duplicates are ignored"}, 503
            )
        emitted = 0
        reasons: list[str] = []
        dead_lettered = 0
        for (first, _), (kind, value) in zip(queued, settled, strict=True):
            if kind != "stored":
                return JSONResponse({"error": f"not stored: {value}; retry later"}, 503)
            outcome: Outcome = value
            emitted += outcome.emitted
            dead_lettered += len(outcome.dead_letters)
            reasons.extend(_renumber(d.reason, first - 1) for d in outcome.dead_letters)
        if dead_lettered:
            return JSONResponse(
                {
                    "error": "some events could not be decoded or mapped; they were kept as dead letters",
                    "stored_alerts": emitted,
                    "dead_lettered": dead_lettered,
                    "reasons": reasons[:_SHOWN_REASONS],
                },
                400,
            )
        return JSONResponse({"stored_alerts": emitted}, 202)

    def _busy(self, message: str) -> JSONResponse:
        return JSONResponse(
            {"error": message}, 503, headers={"Retry-After": str(self.limits.retry_after_s), **_CLOSE}
        )

    def _bearer_matches(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        # starlette decodes headers as latin-1: encoding back gives the bytes the client sent
        digest = hashlib.sha256(given.strip().encode("latin-1")).digest()
        return hmac.compare_digest(digest, self._token_digest)


def _renumber(reason: str, offset: int) -> str:
    """The core's "line N: ..." counted from the part's first line, as a line of the whole body."""
    head, sep, rest = reason.partition(": ")
    number = head.removeprefix("line ")
    if not offset or not sep or number == head or not number.isdigit():
        return reason
    return f"line {int(number) + offset}: {rest}"


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"body larger than {limit} bytes; split it"}, 413, headers=_CLOSE)
