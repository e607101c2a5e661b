"""`POST /ingest`: JSON lines or a JSON array, answered 202 only after the batch committed.

Answers: 202 stored (or already stored); 400 when some lines could not be decoded or
mapped (those are dead-lettered with their reasons, the good ones stored); 401 without the
bearer token; 413 over the size limit; 503 when the worker is stopping or could not store
the body in time (the client retries; alert_uuid makes the retry harmless).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingest.delivery import Delivery, Inbox, Outcome

log = logging.getLogger(__name__)

_SHOWN_REASONS = 20  # a 400 lists this many reasons; all of them are in the dead-letter table


class HttpSource:
    """An HTTP endpoint served by uvicorn in its own thread; every request needs the bearer token."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        token: SecretStr,
        max_body_bytes: int = 10 * 1024 * 1024,
        source: str = "auto",
        enqueue_timeout_s: float = 10.0,
        commit_timeout_s: float = 60.0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        if not token.get_secret_value():
            raise ValueError("the ingest token is empty; set ALERTFLOW_INGEST_TOKEN to a long random string")
        self.host = host
        self.port = port
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.source = source
        self.enqueue_timeout_s = enqueue_timeout_s
        self.commit_timeout_s = commit_timeout_s
        self.ssl_certfile, self.ssl_keyfile = ssl_certfile, ssl_keyfile  # both set: HTTPS
        self.name = f"{'https' if ssl_certfile else 'http'}://{host}:{port}/ingest"
        self._inbox: Inbox | None = None
        self._accepting = False
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
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
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
        if not _bearer_matches(request, self.token):
            return JSONResponse(
                {"error": "missing or wrong bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        if not self._accepting or self._inbox is None:
            return JSONResponse({"error": "the worker is stopping; retry later"}, 503)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._discard(request.stream())
            return _too_large(self.max_body_bytes)
        body = bytearray()
        stream = request.stream()
        async for chunk in stream:
            body += chunk
            if len(body) > self.max_body_bytes:
                await self._discard(stream)
                return _too_large(self.max_body_bytes)
        if not body.strip():
            return JSONResponse({"error": "empty body; send JSON lines or a JSON array of events"}, 400)
        lines = split_body(bytes(body))
        client = request.client.host if request.client else "?"
        return await self._store(lines, origin=f"{self.name} from {client}")

    async def _discard(self, stream: AsyncIterator[bytes]) -> None:
        """Read (and drop) a modestly oversized body, so the client gets its 413 instead of a reset."""
        left = 4 * self.max_body_bytes
        async for chunk in stream:
            left -= len(chunk)
            if left < 0:
                return

    async def _store(self, lines: list[bytes], origin: str) -> JSONResponse:
        assert self._inbox is not None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[str, Any]] = loop.create_future()

        def settle(kind: str, value: Any) -> None:
            if not answer.done():
                answer.set_result((kind, value))

        delivery = Delivery(
            lines=lines,
            origin=origin,
            source=self.source,
            on_commit=lambda outcome: loop.call_soon_threadsafe(settle, "stored", outcome),
            on_abandon=lambda reason: loop.call_soon_threadsafe(settle, "abandoned", reason),
        )
        queued = await anyio.to_thread.run_sync(self._inbox.put, delivery, self.enqueue_timeout_s)
        if not queued:
            return JSONResponse({"error": "the worker is busy or stopping; retry later"}, 503)
        try:
            kind, value = await asyncio.wait_for(answer, self.commit_timeout_s)
        except TimeoutError:
            return JSONResponse(
                {"error": "not stored yet (the database is slow or down); retry, duplicates are ignored"}, 503
            )
        if kind != "stored":
            return JSONResponse({"error": f"not stored: {value}; retry later"}, 503)
        return _answer(value)


def split_body(body: bytes) -> list[bytes]:
    """JSON lines as they are; a JSON array becomes one line per element.

    An array that does not parse is passed on whole, so the core dead-letters it with the
    decoder's reason.
    """
    if body.lstrip()[:1] == b"[":
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError:
            return [body]
        if isinstance(items, list):
            return [orjson.dumps(item) for item in items]
    return body.split(b"\n")


def _answer(outcome: Outcome) -> JSONResponse:
    if outcome.dead_letters:
        return JSONResponse(
            {
                "error": "some events could not be decoded or mapped; they were kept as dead letters",
                "stored_alerts": outcome.emitted,
                "dead_lettered": len(outcome.dead_letters),
                "reasons": [d.reason for d in outcome.dead_letters[:_SHOWN_REASONS]],
            },
            400,
        )
    return JSONResponse({"stored_alerts": outcome.emitted}, 202)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"body larger than {limit} bytes; split it"}, 413)


def _bearer_matches(request: Request, token: SecretStr) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())
