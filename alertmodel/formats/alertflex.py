"""The Alertflex record: every alert column, times in ISO 8601 with offset; `json_event` parsed or as stored."""

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


def to_alertflex_stored(alert: AlertLike) -> dict[str, Any]:
    """The Alertflex record with `json_event` as the stored JSON text (Alertflex's column): what forwarders send.

    One index takes alerts of every source, and as objects their events clash in a receiver's
    dynamic mapping (Wazuh's `rule` is an object, Falco's a string) and make attacker-chosen
    keys into index fields. The ECS and OCSF formats map the event's fields instead.
    """
    row = columns(alert)
    return {name: iso(row.get(name)) if name in _TIMES else row.get(name) for name in ALERT_COLUMNS}
