"""JSON lines → dicts; a line that is not one JSON object gets a reason instead."""

from __future__ import annotations

from typing import Any

import orjson

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longer lines are dead-lettered unparsed: no IDS writes a 16 MiB event."""


def strip_line(line: bytes) -> bytes:
    """`line` without its line ending, \\n, \\r\\n or stray \\r (the bytes the alert_uuid is computed from)."""
    return line.rstrip(b"\r\n")


def decode(raw: bytes) -> dict[str, Any] | str:
    """The JSON object in `raw`, or the reason it is not one (e.g. "invalid JSON at byte 120: ...")."""
    if len(raw) > MAX_LINE_BYTES:
        return f"line longer than {MAX_LINE_BYTES} bytes ({len(raw)})"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode()
        except UnicodeDecodeError as bad:
            return f"invalid UTF-8 at byte {bad.start}: {bad.reason}"
        # orjson counts characters; report bytes, which is what a reader of the raw line sees
        text = raw.decode()
        return f"invalid JSON at byte {len(text[: exc.pos].encode())}: {exc.msg}"
    if type(value) is not dict:
        return f"expected a JSON object, got {type(value).__name__}"
    return value
