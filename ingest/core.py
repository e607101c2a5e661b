"""The pure ingest core: raw lines in; alert records, dead letters, observations and counts out.

decode (ingest.decode) → detect/normalize (one module per source) → filter policy
(ingest.filtering) → records (ingest.record). No I/O and no clock but the one injected.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alertmodel.alert import INDEF
from alertmodel.errors import NormalizationError
from ingest.decode import decode, strip_line
from ingest.detect import SOURCES, detect_source
from ingest.falco import normalize_falco
from ingest.filtering import Aggregator, CompiledPolicy
from ingest.generic import normalize_generic
from ingest.modsecurity import normalize_modsecurity
from ingest.policy import Policy
from ingest.record import alert_uuid, clip, finish
from ingest.suricata import SKIPPED_EVENT_TYPES
from ingest.suricata import normalize_suricata as _normalize_suricata
from ingest.wazuh import normalize_wazuh

Normalizer = Callable[[dict[str, Any]], list[dict[str, Any]]]
NORMALIZERS: dict[str, Normalizer] = {
    "wazuh": normalize_wazuh,
    "suricata": _normalize_suricata,
    "falco": normalize_falco,
    "modsecurity": normalize_modsecurity,
    "generic": normalize_generic,
}
SECTION_OF = {"wazuh": "hids", "suricata": "nids", "modsecurity": "waf", "falco": "crs", "generic": None}
"""Which policy section filters each source (generic alerts have none)."""
SOURCE_NAMES = {"wazuh": "Wazuh", "suricata": "Suricata", "falco": "Falco", "modsecurity": "ModSecurity"}


@dataclass(slots=True)
class DeadLetterItem:
    """A line that could not be decoded or mapped, with why."""

    source: str
    origin: str
    raw: bytes
    reason: str


@dataclass
class CoreOutput:
    """What one `IngestCore.process` call produced."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetterItem] = field(default_factory=list)
    new_categories: list[tuple[str, str]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class IngestCore:
    """Decode, normalize and filter lines of one node's events; keeps aggregation windows and seen categories."""

    def __init__(
        self,
        *,
        node: str = "local",
        policy: Policy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.node = node
        self.clock = clock or _utc_now
        self._aggregator = Aggregator()
        self._seen_categories: set[tuple[str, str]] = set()
        self._compiled = CompiledPolicy(policy, node)
        self.policy = policy

    def set_policy(self, policy: Policy | None) -> None:
        """Swap the policy between process() calls; aggregation windows carry over."""
        compiled = CompiledPolicy(policy, self.node)
        self._compiled, self.policy = compiled, policy  # one assignment each: readers see old or new

    def process(
        self, lines: Iterable[bytes], *, source: str = "auto", origin: str = "", first_line: int = 1
    ) -> CoreOutput:
        """Never raises on bad input. lines are raw lines (with or without \\n / \\r\\n); blank lines skipped.

        Args:
            source: "auto" (detect per line) or one of wazuh, suricata, falco, modsecurity, generic.
            origin: where the lines came from (file, queue), copied into dead letters.
            first_line: the number of the first line, for dead-letter reasons.
        """
        if source != "auto" and source not in NORMALIZERS:
            raise ValueError(f"unknown source {source!r}; expected auto or one of {', '.join(SOURCES)}")
        out = CoreOutput()
        counts = out.counts
        policy = self._compiled
        agg = self._aggregator
        now = self.clock()
        now_ts = now.timestamp()
        node = self.node
        alerts = out.alerts
        seen = self._seen_categories
        for lineno, line in enumerate(lines, first_line):
            raw = strip_line(line)
            if not raw.strip():
                continue
            counts["read"] += 1
            event = decode(raw)
            if type(event) is str:
                self._dead(out, source, origin, raw, f"line {lineno}: {event}")
                continue
            src = source if source != "auto" else detect_source(event)  # type: ignore[arg-type]
            if src is None:
                keys = ", ".join(list(event)[:8])  # type: ignore[arg-type]
                self._dead(out, source, origin, raw, f"line {lineno}: unknown event shape (keys: {keys})")
                continue
            if src == "suricata":
                et = event.get("event_type")  # type: ignore[union-attr]
                if et != "alert":
                    if type(et) is not str:
                        self._dead(out, src, origin, raw, f"line {lineno}: suricata: missing event_type")
                    elif et in SKIPPED_EVENT_TYPES:
                        counts["skipped"] += 1
                    else:
                        counts["observed"] += 1
                        out.observations.append({"source": "Suricata", "event_type": et, "event": event})
                    continue
            try:
                drafts = NORMALIZERS[src](event)  # type: ignore[arg-type]
                if not drafts:
                    counts["no_alert"] += 1
                    continue
                raw_text = raw.decode()
                section = SECTION_OF[src]
                many = len(drafts) > 1 or src == "modsecurity"
                emitted = []
                for part, fields in enumerate(drafts):
                    d = finish(fields)
                    d["node_id"] = node
                    d["alert_uuid"] = alert_uuid(d["source"], node, raw, part if many else None)
                    d["json_event"] = raw_text
                    d["time_collr"] = now
                    d["filter"] = policy.filter_name
                    d["ref_id"] = policy.ref_id
                    emitted.extend(policy.decide(d, section, raw_text, now_ts, agg, counts))
                for d in emitted:
                    cats = d.pop("_cats")
                    del d["_level"]
                    if d.pop("_part", None) == "aggregated":
                        d["alert_uuid"] = alert_uuid(d["source"], node, d["alert_uuid"].encode(), -1)
                    d["category"] = clip("category", ", ".join(cats)) if cats else INDEF
                    for key in ("source", "type", "event", "description", "action"):
                        d[key] = clip(key, d[key])
                    for c in cats:
                        pair = (d["source"], c)
                        if pair not in seen:
                            seen.add(pair)
                            out.new_categories.append(pair)
                    alerts.append(d)
            except NormalizationError as exc:
                self._dead(out, src, origin, raw, f"line {lineno}: {exc}")
            except Exception as exc:  # the one broad catch: one bad event never stops the stream
                self._dead(
                    out, src, origin, raw, f"line {lineno}: {src}: unexpected {type(exc).__name__}: {exc}"
                )
        counts["emitted"] = len(alerts)
        return out

    @staticmethod
    def _dead(out: CoreOutput, source: str, origin: str, raw: bytes, reason: str) -> None:
        out.counts["dead_lettered"] += 1
        out.dead_letters.append(DeadLetterItem(source=source, origin=origin, raw=raw, reason=reason))
