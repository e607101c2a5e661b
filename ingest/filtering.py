"""Apply a filter policy to alert drafts, in DESIGN.md's order, on plain dicts.

`CompiledPolicy` is built once per policy (gray lists indexed by event id, home networks
parsed); `Aggregator` holds the aggregation windows and outlives policy swaps. Both are
driven by `ingest.core.IngestCore`; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from alertmodel.alert import INDEF
from ingest.policy import SECTIONS, GrayEntry, Policy, Section, Selector
from ingest.record import clip

SURICATA_SEVERITY = {1: 3, 2: 2, 3: 1}
"""Suricata alert.severity (1 = worst) → severity; anything else is 0 (rule 2)."""
MAX_WINDOWS = 100_000
"""Aggregation windows kept at most; beyond it the oldest are dropped (memory stays bounded)."""
REPEATED = "Message has been repeated {} times"


@dataclass(slots=True, frozen=True)
class _Entry:
    """A gray/white/black list entry reduced to what matching needs ("indef" → None)."""

    pos: int
    event: str | None
    host: str | None
    match: str | None
    reproduced: int = 0
    in_period: int = 0
    profile: str | None = None
    new_type: str | None = None
    new_source: str | None = None
    new_event: str | None = None
    new_severity: int = 0
    new_category: str | None = None
    new_description: str | None = None
    modifies: bool = False


def _opt(value: str | None, column: str | None = None) -> str | None:
    """None for "indef"; a value that goes into a column is cut to its width once, here."""
    if value is None or value == INDEF:
        return None
    return clip(column, value) if column else value


def _entry(pos: int, sel: Selector, section: str) -> _Entry:
    common = {
        "pos": pos,
        "event": _opt(sel.event),
        "host": _opt(sel.host_selector(section)),
        "match": _opt(sel.match),
    }
    if not isinstance(sel, GrayEntry):
        return _Entry(**common)
    r = sel.response
    overrides = {
        "profile": _opt(r.profile, "action"),
        "new_type": _opt(r.new_type, "type"),
        "new_source": _opt(r.new_source, "source"),
        "new_event": _opt(r.new_event, "event"),
        "new_category": _opt(r.new_category),
        "new_description": _opt(r.new_description, "description"),
    }
    return _Entry(
        **common,
        **overrides,
        reproduced=sel.aggregate.reproduced,
        in_period=sel.aggregate.in_period,
        new_severity=r.new_severity,
        modifies=r.new_severity != 0 or any(v is not None for v in overrides.values()),
    )


def _index(entries: list[_Entry]) -> dict[str | None, list[_Entry]]:
    """Entries by event id (None = any event), each bucket in file order."""
    index: dict[str | None, list[_Entry]] = {}
    for e in entries:
        index.setdefault(e.event, []).append(e)
    return index


@dataclass(slots=True)
class _Section:
    name: str
    threshold: int
    ladder: tuple[int, int, int]
    gray: dict[str | None, list[_Entry]]
    white: dict[str | None, list[_Entry]]
    black: dict[str | None, list[_Entry]]


def _compile_section(name: str, s: Section) -> _Section:
    sev = s.severity
    return _Section(
        name=name,
        threshold=sev.threshold,
        ladder=(sev.level0, sev.level1, sev.level2),
        gray=_index([_entry(i, e, name) for i, e in enumerate(s.gray_list)]),
        white=_index([_entry(i, e, name) for i, e in enumerate(s.white_list)]),
        black=_index([_entry(i, e, name) for i, e in enumerate(s.black_list)]),
    )


@lru_cache(maxsize=65536)
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def translate(section: str, level: Any, ladder: tuple[int, int, int]) -> int:
    """Rule 2: a native level → severity 0-3 (ModSecurity inverted, Suricata fixed map)."""
    if type(level) is not int:
        return 0
    l0, l1, l2 = ladder
    if section == "nids":
        return SURICATA_SEVERITY.get(level, 0)
    if section == "waf":  # lower native number is worse
        return 3 if level < l2 else 2 if level < l1 else 1 if level < l0 else 0
    return 0 if level < l0 else 1 if level < l1 else 2 if level < l2 else 3


def _host_of(section: str, d: dict[str, Any]) -> str:
    return d["container"] if section == "crs" else d["agent"]


def _host_matches(section: str, want: str, d: dict[str, Any]) -> bool:
    if section == "hids":
        return d["agent"] == want
    if section == "crs":
        return d["container"] == want
    # nids/waf: the sensor/server name, or either end of the connection
    return want in (d["agent"], d["srcagent"], d["dstagent"], d["srcip"], d["dstip"])


def _first(index: dict[str | None, list[_Entry]], section: str, d: dict[str, Any], raw: str) -> _Entry | None:
    """Rule 3: the first entry (file order) whose event, host and match all fit."""
    if not index:
        return None
    candidates = index.get(d["event"])
    anyev = index.get(None)
    if anyev:
        candidates = sorted([*(candidates or ()), *anyev], key=_pos) if candidates else anyev
    for e in candidates or ():
        if e.host is not None and not _host_matches(section, e.host, d):
            continue
        if e.match is not None and e.match not in raw:
            continue
        return e
    return None


def _pos(e: _Entry) -> int:
    return e.pos


class Aggregator:
    """Fixed aggregation windows (rule 6), keyed by section, node, event, host and match."""

    def __init__(self, max_windows: int = MAX_WINDOWS) -> None:
        self.max_windows = max_windows
        self.windows: dict[tuple[str, ...], list[float]] = {}  # key → [start, count, in_period]

    def hit(self, key: tuple[str, ...], now: float, reproduced: int, in_period: int) -> int:
        """Count one match; the count that completed a window (then closed), else 0."""
        w = self.windows.get(key)
        if w is None or now - w[0] > w[2]:
            if w is not None:
                del self.windows[key]  # re-insert so dict order stays oldest-first
            w = self.windows[key] = [now, 0, in_period]
            if len(self.windows) > self.max_windows:
                self.purge(now)
        w[1] += 1
        if w[1] >= reproduced:
            del self.windows[key]
            return int(w[1])
        return 0

    def purge(self, now: float) -> None:
        """Drop expired windows, then the oldest ones while over `max_windows`."""
        for key in [k for k, w in self.windows.items() if now - w[0] > w[2]]:
            del self.windows[key]
        while len(self.windows) > self.max_windows:
            del self.windows[next(iter(self.windows))]


def _rewrite(d: dict[str, Any], e: _Entry) -> None:
    """Rule 4: apply an entry's response overrides; new_category is appended; "suppress" is no action."""
    if e.profile is not None and e.profile != "suppress":
        d["action"] = e.profile
    if e.new_type is not None:
        d["type"] = e.new_type
    if e.new_source is not None:
        d["source"] = e.new_source
    if e.new_event is not None:
        d["event"] = e.new_event
    if e.new_severity:
        d["severity"] = e.new_severity
    if e.new_description is not None:
        d["description"] = e.new_description
    if e.new_category is not None:
        d["_cats"] = [*d["_cats"], e.new_category]


class CompiledPolicy:
    """A Policy ready to decide: `decide(draft, ...)` mutates the draft and says which alerts go out."""

    def __init__(self, policy: Policy | None, node: str) -> None:
        policy = policy or Policy()
        self.node = node
        self.filter_name = policy.filter_name
        self.ref_id = policy.ref_id
        self.suppress_nets = [
            h.ip_network() for h in policy.home_net if h.alert_suppress and h.node in (INDEF, "", "*", node)
        ]
        self.sections = {name: _compile_section(name, getattr(policy.sources, name)) for name in SECTIONS}

    def decide(
        self,
        d: dict[str, Any],
        section: str | None,
        raw: str,
        now: float,
        agg: Aggregator,
        counts: Counter[str],
        tally: Counter[tuple[str, Any, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The alerts `d` turns into: [] (dropped), [d], or [d, aggregated]; counts what happened.

        `tally` (when given) also counts it per (what, alert source, severity) as they are in
        the alert; `IngestCore.process` turns those into labels (`ingest.batch.CoreOutput.tally`).
        """
        if tally is None:
            tally = Counter()
        # 1. home_net with alert_suppress containing srcip
        if self.suppress_nets:
            ip = _ip(d["srcip"])
            if ip is not None and any(ip in net for net in self.suppress_nets):
                counts["dropped_home_net"] += 1
                tally[("dropped_home_net", d["source"], d["severity"])] += 1
                return []
        if section is None:  # generic source: no Alertflex section
            return [d]
        s = self.sections[section]
        # 2. severity translation
        d["severity"] = translate(section, d["_level"], s.ladder)
        # 7. white list drops; black list (applied last) forces severity 3 and passes
        if s.white and _first(s.white, section, d, raw) is not None:
            counts["dropped_white_list"] += 1
            tally[("dropped_white_list", d["source"], d["severity"])] += 1
            return []
        black = bool(s.black) and _first(s.black, section, d, raw) is not None
        # 3. gray list, first match wins
        e = _first(s.gray, section, d, raw) if s.gray else None
        if e is None:
            if black:
                d["severity"] = 3
                d["status"] = "modified"
                counts["modified"] += 1
                tally[("modified", d["source"], d["severity"])] += 1
                return [d]
            # 5. threshold
            if d["severity"] < s.threshold:
                counts["dropped_threshold"] += 1
                tally[("dropped_threshold", d["source"], d["severity"])] += 1
                return []
            return [d]
        # 4. gray-listed: passes whatever the threshold, unless suppressed
        suppress = e.profile == "suppress" and not black
        original = {k: d[k] for k in ("source", "type", "event", "description", "severity", "_cats")}
        out = []
        if suppress:
            counts["dropped_suppress"] += 1
            tally[("dropped_suppress", d["source"], d["severity"])] += 1
        else:
            if e.modifies:
                _rewrite(d, e)
                d["status"] = "modified"
            if black:
                d["severity"] = 3
                d["status"] = "modified"
            if d["status"] == "modified":
                counts["modified"] += 1
                tally[("modified", d["source"], d["severity"])] += 1
            out.append(d)
        # 6. aggregation (suppressed alerts count too: "drop each, alert when it repeats")
        if e.reproduced > 0:
            key = (section, self.node, original["event"], e.host or _host_of(section, d), e.match or INDEF)
            n = agg.hit(key, now, e.reproduced, e.in_period)
            if n:
                a = dict(d)
                a.update(original)
                _rewrite(a, e)
                a["status"] = "aggregated"
                a["info"] = REPEATED.format(n)
                a["_part"] = "aggregated"
                counts["aggregated"] += 1
                tally[("aggregated", a["source"], a["severity"])] += 1
                out.append(a)
        return out
