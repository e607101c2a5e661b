"""Any other source: a JSON object whose keys are alert-record field names.

Field paths (all top level; dotted names are not looked up):

- `source` (required, non-empty string) and `event` (required, string or integer);
- `severity`: 0-3 (Info, Minor, Major, Critical); anything else is 0;
- `category`: a string or a list of strings;
- `srcip`, `dstip`: one IPv4/IPv6 address each, else "indef" (`ingest.record.address`);
- `srcport`, `dstport`: 0-65535, else 0;
- `type` (HOST, FILE, NET or MISC, default MISC), `description`, `srcagent`, `dstagent`,
  `user`, `process`, `file`, `agent`, `container`, `sensor`, `location`, `info`,
  `hash_md5`, `hash_sha1`, `hash_sha256`, `proto`, `url`: copied as text;
- `time_event`, else `timestamp`: the event's own time, as text.

The policy's `home_net` suppression applies to generic alerts; the source sections do
not (no Alertflex section exists for them), so their severity is taken as given.
"""

from __future__ import annotations

from typing import Any

from alertmodel.alert import ALERT_TYPES
from alertmodel.errors import NormalizationError
from ingest.record import TEMPLATE, W, address, port, text

_TEXT_FIELDS = (
    "description",
    "srcagent",
    "dstagent",
    "user",
    "process",
    "file",
    "agent",
    "container",
    "sensor",
    "location",
    "info",
    "hash_md5",
    "hash_sha1",
    "hash_sha256",
    "proto",
    "url",
)


def normalize_generic(event: dict[str, Any]) -> list[dict[str, Any]]:
    """One record draft from the documented field names; raises NormalizationError without source or event."""
    source = event.get("source")
    if type(source) is not str or not source:
        raise NormalizationError(f"generic: source must be a non-empty string, got {source!r:.60}")
    ev = event.get("event")
    if not ((type(ev) is str and ev) or type(ev) is int):
        raise NormalizationError(f"generic: event must be a non-empty string or an integer, got {ev!r:.60}")
    severity = event.get("severity")
    kind = event.get("type")
    category = event.get("category")
    if type(category) is str:
        cats = [category] if category else []
    elif type(category) is list:
        cats = [c for c in category if type(c) is str and c]
    else:
        cats = []
    fields: dict[str, Any] = {**TEMPLATE, **{f: text(event.get(f), W[f]) for f in _TEXT_FIELDS}}
    fields.update(
        source=text(source, W["source"]),
        event=text(ev, W["event"]),
        type=kind if kind in ALERT_TYPES else "MISC",
        severity=severity if type(severity) is int and 0 <= severity <= 3 else 0,
        srcip=address(event.get("srcip")),
        dstip=address(event.get("dstip")),
        srcport=port(event.get("srcport")),
        dstport=port(event.get("dstport")),
        time_event=text(event.get("time_event", event.get("timestamp")), W["time_event"]),
        _level=None,
        _cats=cats,
    )
    return [fields]
