"""Indicators of compromise (addresses, domains, file hashes) spelled the way MISP stores them.

One spelling for every path that asks MISP about an indicator: the ingest IOC checks (values
taken from events) and the reputation task (a value a playbook or an analyst gave).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, get_args

IndicatorKind = Literal["ip", "domain", "md5", "sha1", "sha256"]
INDICATOR_KINDS: tuple[str, ...] = get_args(IndicatorKind)
DIGEST_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64}
"""Hex digits of each file-hash kind."""

# Labels of letters, digits, '-' and '_'; the top-level label alphabetic or an IDN's punycode (xn--p1ai).
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)
_HEX = re.compile(r"[0-9a-f]+")


def normalize_indicator(kind: IndicatorKind, value: str) -> str:
    """The canonical spelling MISP stores (lower-case hashes and domains, compact IPs); ValueError if malformed."""
    text = value.strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
    if kind == "domain":
        domain = text.lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise ValueError(f"{value!r} is not a domain name such as example.com")
        return domain
    length = DIGEST_LENGTH.get(kind)
    if length is not None:
        digest = text.lower()
        if len(digest) != length or not _HEX.fullmatch(digest):
            raise ValueError(f"{value!r} is not a {kind} digest ({length} hex digits)")
        return digest
    raise ValueError(f"indicator kind must be one of {', '.join(INDICATOR_KINDS)}, not {kind!r}")
