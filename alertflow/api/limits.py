"""Request bodies are small JSON documents: refuse big ones (413) and deeply nested ones (422) up front.

Starlette would read any body into memory and the JSON parser would recurse as deep as the
document goes; both are cheap ways to hurt a server, so the check runs before routing.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


class BodyLimit:
    """ASGI middleware: buffer at most `max_bytes` of a request body, then hand it on unchanged."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, 413, f"request body larger than {self.max_bytes} bytes")
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _refuse(send, 413, f"request body larger than {self.max_bytes} bytes")
                return
        if body and _is_json(scope) and not _is_utf8(body):
            await _refuse(
                send, 422, [{"loc": ["body"], "msg": "JSON body is not UTF-8", "type": "value_error"}]
            )
            return
        if body and _is_json(scope) and _depth_exceeds(bytes(body), self.max_depth):
            await _refuse(
                send,
                422,
                [
                    {
                        "loc": ["body"],
                        "msg": f"JSON nested deeper than {self.max_depth} levels",
                        "type": "value_error",
                    }
                ],
            )
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _is_utf8(body: bytearray) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON document nests deeper than `limit` (an unparsable body is left to the route)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return "depth limit" in str(exc)  # orjson stops at 1024 levels
    return _depth(document, limit) > limit


def _depth(value: Any, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        return max((_depth(v, limit, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, limit, level + 1) for v in value), default=level)
    return level - 1


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body first; after it, the connection's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send: Send, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
