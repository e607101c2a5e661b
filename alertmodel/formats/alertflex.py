"""The Alertflex record: every alert column, `json_event` parsed, times in ISO 8601 with offset."""

from __future__ import annotations

from typing import Any

from alertmodel.alert import ALERT_COLUMNS
from alertmodel.formats._fields import AlertLike, columns, iso, parsed_event

_TIMES = frozenset({"time_collr", "time_cntrl"})


def to_alertflex(alert: AlertLike) -> dict[str, Any]:
    """The alert as the Alertflex record (the jsonl export writes one per line)."""
    row = columns(alert)
    record = {name: iso(row.get(name)) if name in _TIMES else row.get(name) for name in ALERT_COLUMNS}
    record["json_event"] = parsed_event(row)
    return record
