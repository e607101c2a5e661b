"""IOC checks at ingest, as Alertflex does them: addresses, domains and hashes seen on the wire
(Suricata flow/dns/http/fileinfo/tls observations) and by file integrity monitoring (Wazuh FIM
hashes) are looked up in MISP; every hit becomes an extra alert of source `MISP`.

The look-up itself is passed in (MISP's database or REST API, see tasks.misp.ioc_lookup), so this
module stays free of I/O and of Prefect. Answers, hits and misses alike, are cached for a bounded
time in a bounded cache: a busy sensor repeats the same few thousand addresses all day.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from alertmodel.indicators import IndicatorKind, normalize_indicator
from ingest.batch import CoreOutput
from ingest.record import TEMPLATE, address, alert_uuid, clip, port
from ingest.record import text as _text

SOURCE = "MISP"
HASH_KINDS: tuple[IndicatorKind, ...] = ("md5", "sha1", "sha256")


class IocHit(Protocol):
    """What a look-up returns per matching MISP attribute (tasks.misp.MispAttribute fits)."""

    type: str
    event_id: int
    event_info: str


IocLookup = Callable[[Sequence[str]], Mapping[str, Sequence[IocHit]]]
"""Looks many values up at once; returns the hits of the values MISP knows (others absent)."""


class TtlCache:
    """At most `max_entries` answers, each kept `ttl_s` seconds; the least recently used goes first."""

    def __init__(
        self, max_entries: int = 50_000, ttl_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ):
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError("the IOC cache needs max_entries >= 1 and ttl_s > 0")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, tuple[IocHit, ...]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, value: str) -> tuple[IocHit, ...] | None:
        """The cached hits (possibly none) for `value`, or None when unknown or expired."""
        entry = self._entries.get(value)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[value]
            return None
        self._entries.move_to_end(value)
        return entry[1]

    def put(self, value: str, hits: Sequence[IocHit]) -> None:
        """Remember the answer for `value` (an empty one too: misses are the common case)."""
        self._entries[value] = (self._clock() + self.ttl_s, tuple(hits))
        self._entries.move_to_end(value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _indicator(kind: IndicatorKind, value: Any) -> str | None:
    """`value` as MISP spells an indicator of `kind`, or None when it is not one (events carry anything)."""
    if type(value) is not str:
        return None
    try:
        return normalize_indicator(kind, value)
    except ValueError:
        return None


def _ip(value: Any, check_private: bool) -> str | None:
    ip = _indicator("ip", value)
    if ip is None or check_private or ipaddress.ip_address(ip).is_global:
        return ip
    return None


def text(value: Any) -> str:
    """A string field value ("indef" when missing); `finish` cuts it to its column."""
    return _text(value, 1 << 20)


def finish(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A complete alert row: the record template overlaid with `fields`, text cut to column widths."""
    row = TEMPLATE.copy()
    for key, value in fields.items():
        row[key] = clip(key, value) if type(value) is str else value
    return row


CHECKED_EVENT_TYPES = frozenset({"flow", "dns", "http", "tls", "fileinfo"})


def observation_indicators(event: Mapping[str, Any], *, check_private: bool = False) -> list[tuple[str, str]]:
    """(kind, value) pairs to check in one Suricata EVE observation, each from the event type that owns it.

    Addresses come from `flow` records only (one per connection, where http/fileinfo/tls events of
    the same connection would repeat them); domains from `dns` names, the `http` Host and the `tls`
    SNI; file hashes from `fileinfo`.
    """
    event_type = event.get("event_type")
    found: list[tuple[str, str]] = []
    if event_type == "flow":
        for key in ("src_ip", "dest_ip"):
            ip = _ip(event.get(key), check_private)
            if ip:
                found.append(("ip", ip))
    elif event_type == "http":
        http = event.get("http")
        host = http.get("hostname") if type(http) is dict else None
        ip = _ip(host, check_private)
        domain = None if ip else _indicator("domain", host)
        if ip:
            found.append(("ip", ip))
        if domain:
            found.append(("domain", domain))
    elif event_type == "dns":
        dns = event.get("dns")
        if type(dns) is dict:
            names = [dns.get("rrname")]
            names += [q.get("rrname") for q in dns.get("queries") or () if type(q) is dict]
            for answer in dns.get("answers") or ():
                if type(answer) is dict:
                    names.append(answer.get("rrname"))
                    if answer.get("rrtype") == "CNAME":
                        names.append(answer.get("rdata"))
            for name in names:
                domain = _indicator("domain", name)
                if domain:
                    found.append(("domain", domain))
    elif event_type == "tls":
        tls = event.get("tls")
        domain = _indicator("domain", tls.get("sni")) if type(tls) is dict else None
        if domain:
            found.append(("domain", domain))
    elif event_type == "fileinfo":
        fileinfo = event.get("fileinfo")
        if type(fileinfo) is dict:
            for kind in HASH_KINDS:
                digest = _indicator(kind, fileinfo.get(kind))
                if digest:
                    found.append((kind, digest))
    return list(dict.fromkeys(found))


def alert_indicators(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, hash) pairs of an alert row's file hashes (Wazuh FIM's md5/sha1/sha256 after the change)."""
    found = []
    for kind in HASH_KINDS:
        digest = _indicator(kind, alert.get(f"hash_{kind}"))
        if digest:
            found.append((kind, digest))
    return found


class IocEnricher:
    """An ingest `Enricher`: one MISP alert per (observed event or FIM alert, matching IOC)."""

    def __init__(
        self,
        lookup: IocLookup,
        *,
        node: str = "local",
        severity: int = 2,
        cache: TtlCache | None = None,
        check_private_ips: bool = False,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if severity not in (0, 1, 2, 3):
            raise ValueError(f"IOC alert severity must be 0, 1, 2 or 3, not {severity!r}")
        self.lookup = lookup
        self.node = node
        self.severity = severity
        self.cache = cache if cache is not None else TtlCache()
        self.check_private_ips = check_private_ips
        self._now = now or (lambda: datetime.now(UTC))
        self.looked_up = 0  # values sent to the look-up (cache misses), for tests and metrics

    def __call__(self, out: CoreOutput) -> list[dict[str, Any]]:
        contexts: list[tuple[Mapping[str, Any], bool, list[tuple[str, str]]]] = []
        for observation in out.observations:
            event = observation.get("event")
            if type(event) is dict:
                found = observation_indicators(event, check_private=self.check_private_ips)
                if found:
                    contexts.append((observation, False, found))
        for alert in out.alerts:
            found = alert_indicators(alert)
            if found:
                contexts.append((alert, True, found))
        if not contexts:
            return []
        hits = self._hits(value for _, _, found in contexts for _, value in found)
        if not hits:
            return []
        now = self._now()
        rows = []
        for context, is_alert, found in contexts:
            for kind, value in found:
                if value in hits:
                    rows.append(self._alert(context, is_alert, kind, value, hits[value], now))
        return rows

    def _hits(self, values: Iterable[str]) -> dict[str, tuple[IocHit, ...]]:
        known: dict[str, tuple[IocHit, ...]] = {}
        missing: list[str] = []
        for value in dict.fromkeys(values):
            cached = self.cache.get(value)
            if cached is None:
                missing.append(value)
            elif cached:
                known[value] = cached
        if missing:
            self.looked_up += len(missing)
            answers = self.lookup(missing)
            for value in missing:
                found = tuple(answers.get(value, ()))
                self.cache.put(value, found)
                if found:
                    known[value] = found
        return known

    def _alert(
        self,
        context: Mapping[str, Any],
        is_alert: bool,
        kind: str,
        value: str,
        hits: Sequence[IocHit],
        now: datetime,
    ) -> dict[str, Any]:
        first = hits[0]
        events = "; ".join(dict.fromkeys(f"event {h.event_id} ({h.event_info or 'no info'})" for h in hits))
        if is_alert:
            origin = f"{context.get('source')} alert {context.get('alert_uuid')}"
            key = f"alert\n{context.get('alert_uuid')}\n{value}".encode()
            fields: dict[str, Any] = {
                name: context.get(name, "indef")
                for name in (
                    "srcip",
                    "dstip",
                    "srcport",
                    "dstport",
                    "agent",
                    "user",
                    "process",
                    "file",
                    "location",
                )
            }
            fields.update(
                type="FILE",
                hash_md5=context.get("hash_md5", "indef"),
                hash_sha1=context.get("hash_sha1", "indef"),
                hash_sha256=context.get("hash_sha256", "indef"),
                time_event=context.get("time_event", "indef"),
                ref_id=context.get("alert_uuid", "indef"),
                json_event=context.get("json_event", ""),
            )
        else:
            event = context["event"]
            raw = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
            origin = f"Suricata {context.get('event_type')}"
            key = b"observation\n" + raw + b"\n" + value.encode()
            fileinfo = event.get("fileinfo") if type(event.get("fileinfo")) is dict else {}
            http = event.get("http") if type(event.get("http")) is dict else {}
            fields = {
                "type": "FILE" if kind in HASH_KINDS else "NET",
                "srcip": address(event.get("src_ip")),
                "dstip": address(event.get("dest_ip")),
                "srcport": port(event.get("src_port")),
                "dstport": port(event.get("dest_port")),
                "proto": text(event.get("proto")),
                "sensor": text(event.get("host") or event.get("in_iface")),
                "file": text(fileinfo.get("filename")),
                "url": text(http.get("url")),
                "time_event": text(event.get("timestamp")),
                "json_event": raw.decode(),
            }
            for digest_kind in HASH_KINDS:
                fields[f"hash_{digest_kind}"] = text(fileinfo.get(digest_kind))
        fields.update(
            alert_uuid=alert_uuid(SOURCE, self.node, key),
            node_id=self.node,
            source=SOURCE,
            event=f"ioc_{kind}",
            severity=self.severity,
            category=f"misp, ioc, {first.type}",
            description=f"MISP IOC {kind} {value} matched ({first.type}, {events})",
            info=f"{origin} matched MISP {kind} {value}: {events}",
            time_collr=now,
        )
        return finish(fields)
