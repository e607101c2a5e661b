"""Opaque keyset cursors: the sort key of the last row of a page, as URL-safe base64 JSON."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import HTTPException


def encode_cursor(values: list[Any]) -> str:
    """A cursor holding `values` (JSON scalars)."""
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """The values of a cursor this API made, one of each of `kinds`; 422 naming `cursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        values = None
    if not (
        isinstance(values, list)
        and len(values) == len(kinds)
        and all(isinstance(v, k) and not isinstance(v, bool) for v, k in zip(values, kinds, strict=True))
    ):
        raise cursor_error()
    return values


def cursor_error() -> HTTPException:
    """The 422 a cursor gets that this listing did not make."""
    return HTTPException(
        422, [{"loc": ["query", "cursor"], "msg": "not a cursor from this listing", "type": "value_error"}]
    )
