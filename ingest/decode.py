"""JSON lines → dicts; a line that is not one JSON object gets a reason instead."""

from __future__ import annotations

from typing import Any

import orjson

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longer lines are dead-lettered unparsed: no IDS writes a 16 MiB event."""


def strip_line(line: bytes) -> bytes:
    """`line` without its trailing \\n or \\r\\n (the bytes the alert_uuid is computed from)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    elif line.endswith(b"\r"):
        line = line[:-1]
    return line


def decode(raw: bytes) -> dict[str, Any] | str:
    """The JSON object in `raw`, or the reason it is not one (e.g. "invalid JSON at byte 120: ...")."""
    if len(raw) > MAX_LINE_BYTES:
        return f"line longer than {MAX_LINE_BYTES} bytes ({len(raw)})"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON at byte {exc.pos}: {exc.msg}"
    if type(value) is not dict:
        return f"expected a JSON object, got {type(value).__name__}"
    return value
