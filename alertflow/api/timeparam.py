"""Times in query parameters: naive means UTC; out-of-range times are a 422, not a crash."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import HTTPException
from pydantic import BeforeValidator

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_only(value: Any) -> Any:
    """Refuse what pydantic would otherwise take for a time: Unix seconds ('0.5') or a bare date."""
    if isinstance(value, str) and not _ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A date-time query parameter: ISO 8601 text only."""


def as_utc(value: datetime, name: str = "time") -> datetime:
    """`value` as an aware UTC datetime (a naive one is taken as UTC)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(
            422, [{"loc": ["query", name], "msg": "time out of range", "type": "value_error"}]
        ) from None
