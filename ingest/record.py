"""Build alert records: defaults, truncation to the column widths, deterministic alert_uuid.

Records are plain dicts keyed by `alertmodel.ALERT_COLUMNS`; nothing here validates with
pydantic, because this runs once per alert on the hot path.
"""

from __future__ import annotations

import hashlib
from typing import Any

from alertmodel.alert import ALERT_COLUMNS, ALERT_FIELD_WIDTHS, INDEF

ALERT_NAMESPACE = bytes.fromhex("6f0e5a3c9b1d5e8a8c2f4d7b1a9e3c55")
"""UUIDv5 namespace of alert ids (fixed forever: changing it re-keys every stored alert)."""

_INT_COLUMNS = frozenset({"severity", "score", "srcport", "dstport"})
_TEMPLATE: dict[str, Any] = {}
for _name in ALERT_COLUMNS:
    if _name in _INT_COLUMNS:
        _TEMPLATE[_name] = 0
    elif _name == "status":
        _TEMPLATE[_name] = "processed"
    elif _name in ("time_collr", "time_cntrl"):
        _TEMPLATE[_name] = None
    elif _name == "json_event":
        _TEMPLATE[_name] = ""
    else:
        _TEMPLATE[_name] = INDEF
_WIDTHS = ALERT_FIELD_WIDTHS


def alert_uuid(source: str, node: str, raw: bytes, part: int | None = None) -> str:
    """UUIDv5 (ALERT_NAMESPACE) of source, node, raw event bytes and, for multi-alert events, the part.

    Equal to `uuid.uuid5(UUID(bytes=ALERT_NAMESPACE), name)` for the UTF-8 name
    `source \\n node \\n raw [\\n part]`, built without UUID objects because it runs per alert.
    """
    name = b"%s\n%s\n%s" % (source.encode(), node.encode(), raw)
    if part is not None:
        name += b"\n%d" % part
    h = hashlib.sha1(ALERT_NAMESPACE + name, usedforsecurity=False).hexdigest()
    variant = "89ab"[int(h[16], 16) & 0x3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def text(value: Any) -> str:
    """A string field value: "indef" for missing or empty, numbers as text, anything else as compact text."""
    if value is None:
        return INDEF
    t = type(value)
    if t is str:
        return value if value else INDEF
    if t is int or t is float:
        return str(value)
    if t is bool:
        return "true" if value else "false"
    if t is list:
        return ", ".join(text(v) for v in value) or INDEF
    return str(value)


def port(value: Any) -> int:
    """A port number from an int or a numeric string; 0 when absent or out of range."""
    if type(value) is int:
        return value if 0 <= value <= 65535 else 0
    if type(value) is str and value.isdigit():
        p = int(value)
        return p if p <= 65535 else 0
    return 0


def finish(fields: dict[str, Any]) -> dict[str, Any]:
    """A complete record: the template overlaid with `fields`, strings cut to their column widths."""
    rec = _TEMPLATE.copy()
    for key, value in fields.items():
        if type(value) is str:
            width = _WIDTHS.get(key)
            if width is not None and len(value) > width:
                value = value[:width]
        rec[key] = value
    return rec


def clip(key: str, value: str) -> str:
    """`value` cut to the width of column `key`."""
    width = _WIDTHS.get(key)
    return value[:width] if width is not None and len(value) > width else value
