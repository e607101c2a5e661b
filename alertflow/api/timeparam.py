"""Times in query parameters: naive means UTC; out-of-range times are a 422, not a crash."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import HTTPException


def as_utc(value: datetime, name: str = "time") -> datetime:
    """`value` as an aware UTC datetime (a naive one is taken as UTC)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(
            422, [{"loc": ["query", name], "msg": "time out of range", "type": "value_error"}]
        ) from None
