"""Build alert records: defaults, truncation to the column widths, deterministic alert_uuid.

Records are plain dicts keyed by `alertmodel.ALERT_COLUMNS`. Normalizers start from
`TEMPLATE` and pass each free-text value through `text(value, width)`, each address through
`address(value)` and each port through `port(value)`, so no second pass over the record is
needed; nothing here validates with pydantic, because it runs once per alert.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from alertmodel.alert import ALERT_COLUMNS, ALERT_FIELD_WIDTHS, INDEF

ALERT_NAMESPACE = bytes.fromhex("6f0e5a3c9b1d5e8a8c2f4d7b1a9e3c55")
"""UUIDv5 namespace of alert ids (fixed forever: changing it re-keys every stored alert)."""
W = ALERT_FIELD_WIDTHS
_INT_COLUMNS = frozenset({"severity", "score", "srcport", "dstport"})


def _default(name: str) -> Any:
    if name in _INT_COLUMNS:
        return 0
    if name == "status":
        return "processed"
    if name in ("time_collr", "time_cntrl"):
        return None
    if name == "json_event":
        return ""
    return INDEF


TEMPLATE: dict[str, Any] = {name: _default(name) for name in ALERT_COLUMNS}
"""Every column at its default ("indef", 0, status processed); normalizers overlay what they know."""

_BASES: dict[tuple[str, str], Any] = {}
_VARIANT = {c: "89ab"[int(c, 16) & 0x3] for c in "0123456789abcdef"}


def alert_uuid(source: str, node: str, raw: bytes, part: int | None = None) -> str:
    """UUIDv5 (ALERT_NAMESPACE) of source, node, raw event bytes and, for multi-alert events, the part.

    Equal to `uuid.uuid5(UUID(bytes=ALERT_NAMESPACE), name)` for the UTF-8 name
    `source \\n node \\n raw [\\n part]`, built without UUID objects because it runs per alert.
    """
    base = _BASES.get((source, node))
    if base is None:
        if len(_BASES) > 1024:  # sources/nodes are few; never let odd inputs grow this
            _BASES.clear()
        base = _BASES[(source, node)] = hashlib.sha1(
            ALERT_NAMESPACE + f"{source}\n{node}\n".encode(), usedforsecurity=False
        )
    sha = base.copy()
    sha.update(raw)
    if part is not None:
        sha.update(b"\n%d" % part)
    h = sha.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def text(value: Any, width: int) -> str:
    """A string field: "indef" for missing or empty, numbers as text, lists joined; cut to `width`."""
    t = type(value)
    if t is str:
        if not value:
            return INDEF
    elif value is None:
        return INDEF
    elif t is int or t is float:
        value = str(value)
    elif t is bool:
        value = "true" if value else "false"
    elif t is list:
        value = ", ".join(text(v, width) for v in value) or INDEF
    else:
        value = str(value)
    return value if len(value) <= width else value[:width]


def port(value: Any) -> int:
    """A port number from an int or a string of ASCII digits; 0 when absent, out of range or anything else."""
    if type(value) is int:
        return value if 0 <= value <= 65535 else 0
    # isdigit alone also accepts "²" (int() refuses it) and 5,000-digit strings (int() refuses those too)
    if type(value) is str and 0 < len(value) <= 5 and value.isascii() and value.isdigit():
        p = int(value)
        return p if p <= 65535 else 0
    return 0


_ADDRESSES: dict[str, str] = {}
_LONGEST_ADDRESS = 45  # "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"


def address(value: Any) -> str:
    """One IPv4 or IPv6 address in its canonical text, else "indef": never a network, a range or other text.

    Address fields steer response jobs (a block list), so anything else an event puts there
    (`0.0.0.0/0`, a host name, `; rm -rf /`) is replaced by "indef"; the event as received stays
    in json_event. An IPv4-mapped IPv6 address becomes its IPv4 address; a zone
    (`fe80::1%eth0`, free text after the %) is refused.
    """
    if type(value) is not str or not value or len(value) > _LONGEST_ADDRESS:
        return INDEF
    known = _ADDRESSES.get(value)
    if known is None:
        known = _parse_address(value)
        if len(_ADDRESSES) > 4096:  # a sensor repeats a few thousand addresses; odd inputs must not grow this
            _ADDRESSES.clear()
        _ADDRESSES[value] = known
    return known


def _parse_address(value: str) -> str:
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        return INDEF
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.scope_id is not None:
            return INDEF
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
    return str(parsed)


def clip(key: str, value: str) -> str:
    """`value` cut to the width of column `key`."""
    width = W.get(key)
    return value[:width] if width is not None and len(value) > width else value
