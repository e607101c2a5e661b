"""The pure ingest core: raw lines in; alert records, dead letters, observations and counts out.

decode (ingest.json_lines) → detect/normalize (one module per source) → filter policy
(ingest.filtering) → records (ingest.record). No I/O and no clock but the one injected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from alertmodel.errors import NormalizationError
from alertmodel.metrics import severity_label, source_label
from ingest.altprobe import node_stats_row, normalize_altprobe
from ingest.batch import CoreOutput, DeadLetterItem
from ingest.detect import SOURCES, detect_source
from ingest.falco import normalize_falco
from ingest.filtering import Aggregator, CompiledPolicy
from ingest.generic import normalize_generic
from ingest.json_lines import decode
from ingest.modsecurity import normalize_modsecurity
from ingest.policy import Policy
from ingest.record import alert_uuid, clip
from ingest.suricata import SKIPPED_EVENT_TYPES, normalize_suricata
from ingest.wazuh import normalize_wazuh

Normalizer = Callable[[dict[str, Any]], list[dict[str, Any]]]
NORMALIZERS: dict[str, Normalizer] = {
    "wazuh": normalize_wazuh,
    "suricata": normalize_suricata,
    "falco": normalize_falco,
    "modsecurity": normalize_modsecurity,
    "generic": normalize_generic,
    "altprobe": normalize_altprobe,
}
SECTION_OF = {
    "wazuh": "hids",
    "suricata": "nids",
    "modsecurity": "waf",
    "falco": "crs",
    "generic": None,
    "altprobe": None,
}
"""Which policy section filters each source (generic alerts have none; an Altprobe alert says its own)."""
PURGE_EVERY_S = 60.0
"""How often (by the injected clock) expired aggregation windows are dropped."""
MAX_SEEN_CATEGORIES = 100_000
"""Past this many remembered (source, category) pairs the memory is reset; re-reporting is harmless."""
CATEGORY_NAME_WIDTH = 512
"""Width of `alertmodel.Category.name`; longer category names are registered cut to it."""
_SPACE = frozenset(b" \t\r\n\f\v")
_SOURCE_SEVERITY = itemgetter("source", "severity")


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
        self._last_purge = 0.0
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
        raw_tally: Counter[tuple[str, Any, Any]] = Counter()  # labelled once per distinct key, at the end
        policy = self._compiled
        decide = policy.decide
        agg = self._aggregator
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the clock must return an aware datetime")
        now = now.astimezone(UTC)
        now_ts = now.timestamp()
        if abs(now_ts - self._last_purge) >= PURGE_EVERY_S:
            agg.purge(now_ts)
            self._last_purge = now_ts
        node = self.node
        filter_name, ref_id = policy.filter_name, policy.ref_id
        alerts = out.alerts
        observations = out.observations
        new_categories = out.new_categories
        seen = self._seen_categories
        if len(seen) > MAX_SEEN_CATEGORIES:
            seen.clear()
        fixed = NORMALIZERS.get(source)
        received = dict.fromkeys((*NORMALIZERS, "unknown"), 0)
        read = skipped = no_alert = 0
        lineno = first_line - 1
        for line in lines:
            lineno += 1
            raw = line.rstrip(b"\r\n")
            if not raw or (raw[0] in _SPACE and not raw.strip()):
                continue
            read += 1
            event = decode(raw)
            if type(event) is str:
                received[source if fixed is not None else "unknown"] += 1
                self._dead(out, source, origin, raw, f"line {lineno}: {event}", "invalid_json")
                continue
            src = source if fixed is not None else detect_source(event)
            if src is None:
                received["unknown"] += 1
                keys = ", ".join(list(event)[:8])
                self._dead(
                    out,
                    source,
                    origin,
                    raw,
                    f"line {lineno}: unknown event shape (keys: {keys})",
                    "unknown_shape",
                )
                continue
            received[src] += 1
            if src == "suricata":
                et = event.get("event_type")
                if et != "alert":
                    if type(et) is not str:
                        self._dead(out, src, origin, raw, f"line {lineno}: suricata: missing event_type")
                    elif et in SKIPPED_EVENT_TYPES:
                        skipped += 1
                    else:
                        observations.append({"source": "Suricata", "event_type": et, "event": event})
                    continue
            try:
                if src == "altprobe" and "altprobe_stats" in event:
                    out.node_stats.append(node_stats_row(event))
                    continue
                drafts = NORMALIZERS[src](event)
                if not drafts:
                    no_alert += 1
                    continue
                raw_text = raw.decode()
                section = SECTION_OF[src]
                many = src == "modsecurity"
                emitted: list[dict[str, Any]] = []  # a line's alerts go out together or not at all
                for part, d in enumerate(drafts):
                    d["json_event"] = raw_text
                    if src == "altprobe":  # normalized and maybe filtered by the collector: keep its ids
                        emitted.extend(self._altprobe(d, raw, raw_text, now, agg, counts, raw_tally))
                        continue
                    d["node_id"] = node
                    d["alert_uuid"] = alert_uuid(d["source"], node, raw, part if many else None)
                    d["time_collr"] = now
                    d["filter"] = filter_name
                    d["ref_id"] = ref_id
                    emitted.extend(decide(d, section, raw_text, now_ts, agg, counts, raw_tally))
                for a in emitted:
                    cats = a.pop("_cats")
                    del a["_level"]
                    if a.pop("_part", None) is not None:
                        a["alert_uuid"] = alert_uuid(a["source"], node, a["alert_uuid"].encode(), -1)
                    if cats:
                        a["category"] = clip("category", ", ".join(cats))
                        a_source = a["source"]
                        for c in cats:
                            pair = (a_source, c)
                            if pair not in seen:
                                seen.add(pair)
                                new_categories.append((a_source, c[:CATEGORY_NAME_WIDTH]))
                alerts.extend(emitted)
            except NormalizationError as exc:
                self._dead(out, src, origin, raw, f"line {lineno}: {exc}")
            except Exception as exc:  # the one broad catch: one bad event never stops the stream
                self._dead(
                    out,
                    src,
                    origin,
                    raw,
                    f"line {lineno}: {src}: unexpected {type(exc).__name__}: {exc}",
                    "unexpected_error",
                )
        counts["read"] += read
        tally = out.tally
        for src_name, n in received.items():
            if n:
                tally[("received", src_name, "")] += n
        for (a_source, severity), n in Counter(map(_SOURCE_SEVERITY, alerts)).items():
            tally[("emitted", source_label(a_source), severity_label(severity))] += n
        for (what, a_source, severity), n in raw_tally.items():
            tally[(what, source_label(a_source), severity_label(severity))] += n
        counts["emitted"] = len(alerts)
        for key, n in (("observed", len(observations)), ("skipped", skipped), ("no_alert", no_alert)):
            if n:
                counts[key] = n
        return out

    def _altprobe(
        self,
        d: dict[str, Any],
        raw: bytes,
        raw_text: str,
        now: datetime,
        agg: Aggregator,
        counts: Any,
        tally: Counter[tuple[str, Any, Any]],
    ) -> list[dict[str, Any]]:
        """An Altprobe record: the collector's node, alert id and time; this policy only if it did not filter."""
        collector = d.pop("_node")
        d["node_id"] = collector if collector != "indef" else self.node
        d["alert_uuid"] = d.pop("_uuid") or alert_uuid(d["source"], d["node_id"], raw)
        d["time_collr"] = d.pop("_collr") or now
        section = d.pop("_section")
        if d.pop("_filtered"):
            counts["collector_filtered"] += 1
            return [d]
        policy = self._compiled
        d["filter"] = policy.filter_name
        if d["ref_id"] == "indef":
            d["ref_id"] = policy.ref_id
        return policy.decide(d, section, raw_text, now.timestamp(), agg, counts, tally)

    @staticmethod
    def _dead(
        out: CoreOutput, source: str, origin: str, raw: bytes, reason: str, kind: str = "invalid_event"
    ) -> None:
        out.counts["dead_lettered"] += 1
        out.dead_letters.append(
            DeadLetterItem(source=source, origin=origin, raw=raw, reason=reason, kind=kind)
        )
