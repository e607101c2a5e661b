"""What every renderer needs from an alert: its columns, which are set, its event time, its hashes."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import orjson

from alertmodel.alert import ALERT_COLUMNS, INDEF, Alert

AlertLike = Alert | Mapping[str, Any]

_HEX = re.compile(r"[0-9A-Fa-f]+")
_HASHES = (("md5", "hash_md5", 32), ("sha1", "hash_sha1", 40), ("sha256", "hash_sha256", 64))
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)
_APACHE = re.compile(
    r"(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*([+-]\d{4})", re.ASCII
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def columns(alert: AlertLike) -> Mapping[str, Any]:
    """The alert's columns as a mapping (a stored row is used as it is)."""
    if isinstance(alert, Mapping):
        return alert
    return {name: getattr(alert, name) for name in ALERT_COLUMNS}


def present(value: Any) -> bool:
    """Whether a column holds a value: Alertflex writes "indef" (or 0, or nothing) for unknown."""
    return value not in (None, "", INDEF)


def text(value: Any) -> str | None:
    """The column as a string, or None when unknown."""
    return str(value) if present(value) else None


def number(value: Any) -> int | None:
    """A port or count, or None when 0 or not a number."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def address(value: Any) -> str | None:
    """The column as a canonical IP address, or None (a sensor may write anything there)."""
    if not present(value):
        return None
    return _canonical_address(str(value).strip())


@lru_cache(maxsize=8192)  # the same addresses come again and again; parsing one costs microseconds
def _canonical_address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def hashes(row: Mapping[str, Any]) -> dict[str, str]:
    """The alert's file hashes by algorithm (md5, sha1, sha256), only those that are such a hash."""
    found = {}
    for name, column, length in _HASHES:
        value = str(row.get(column) or "")
        if len(value) == length and _HEX.fullmatch(value):
            found[name] = value.lower()
    return found


def utc(value: datetime) -> datetime:
    """A stored datetime as aware UTC (a naive one is UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with the +00:00 offset, as the jsonl export has always written datetimes."""
    return None if value is None else utc(value).isoformat()


def event_time(row: Mapping[str, Any]) -> datetime:
    """When the event happened: `time_event` as the sensor wrote it, else when it was collected."""
    parsed = parse_time(str(row.get("time_event") or ""))
    return parsed if parsed is not None else utc(row["time_collr"])


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 time (EVE, Wazuh, Falco: +0000, Z, nanoseconds) or Apache's, else None."""
    value = value.strip()
    if match := _ISO.fullmatch(value):
        year, month, day, hour, minute, second, fraction, zone = match.groups()
    elif match := _APACHE.fullmatch(value):
        day, name, year, hour, minute, second, fraction, zone = match.groups()
        month = _MONTHS.get(name.lower(), 0)
    else:
        return None
    try:
        at = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(zone or "Z"),
        )
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _zone(text_: str) -> timezone:
    if text_ == "Z":
        return UTC
    digits = text_[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text_[0] == "-" else offset)


def raw_event(row: Mapping[str, Any]) -> str | None:
    """The sensor's event as stored (JSON text), or None."""
    value = row.get("json_event")
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def parsed_event(row: Mapping[str, Any]) -> Any:
    """The stored event parsed; the text itself if it is not JSON."""
    value = row.get("json_event")
    if not isinstance(value, str | bytes):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def categories(row: Mapping[str, Any]) -> list[str]:
    """The alert's categories: Alertflex joins several with ", "."""
    value = row.get("category")
    if not present(value):
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """`values` without None, "", {} and [] (0 and False stay): a renderer leaves out what is unknown."""
    return {k: v for k, v in values.items() if v or v == 0}
