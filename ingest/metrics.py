"""The ingest worker's Prometheus metrics, counted in the worker process after each commit.

The decode process only counts into the `CoreOutput` it sends back (`tally`, `counts`); the
worker adds a batch's counts to these metrics once its transaction committed. So a batch is
counted once whatever happens to the child: a child that died is replaced and the batch
decoded again by the new one (its reply is the only one ever counted), and a batch the
worker abandons at shutdown (it is delivered again later) is not counted at all.

Names follow Alertflex's collector counters (`node_alerts`): `<src>_s0..s3` are
`alertflow_ingest_alerts_emitted_total{source, severity}`, `<src>_filter` is
`alertflow_ingest_alerts_filtered_total`, `<src>_agg` is `alertflow_ingest_alerts_aggregated_total`.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from alertmodel import ALERT_COLUMNS
from alertmodel.metrics import severity_label, source_label

_SOURCE_AT = ALERT_COLUMNS.index("source")
_SEVERITY_AT = ALERT_COLUMNS.index("severity")
_MADE: weakref.WeakKeyDictionary[CollectorRegistry, IngestMetrics] = weakref.WeakKeyDictionary()
_MADE_LOCK = threading.Lock()
_FILTERED = {
    "dropped_white_list": "white_list",
    "dropped_suppress": "suppress",
    "dropped_home_net": "home_net",
}


class IngestMetrics:
    """The worker's counters and histogram, registered on `registry` (once per registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def counter(name: str, doc: str, labels: Sequence[str]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        sev = ["source", "severity"]
        self.received = counter(
            "alertflow_ingest_events_received",
            "Events (non-blank lines) read, by detected source (unknown when it could not be told).",
            ["source"],
        )
        self.emitted = counter(
            "alertflow_ingest_alerts_emitted",
            "Alerts that passed the filter policy, by source and severity (Alertflex's <src>_s0..s3).",
            sev,
        )
        self.stored = counter(
            "alertflow_ingest_alerts_stored", "Alerts stored for the first time, by source and severity.", sev
        )
        self.duplicates = counter(
            "alertflow_ingest_alerts_duplicate",
            "Alerts not stored because their alert_uuid already was (a redelivery).",
            [],
        )
        self.dropped_threshold = counter(
            "alertflow_ingest_alerts_dropped_threshold",
            "Alerts dropped because their severity is under the policy's threshold.",
            sev,
        )
        self.filtered = counter(
            "alertflow_ingest_alerts_filtered",
            "Alerts dropped by a filter rule (white_list, suppress, home_net), Alertflex's <src>_filter.",
            [*sev, "rule"],
        )
        self.modified = counter(
            "alertflow_ingest_alerts_modified",
            "Alerts a gray or black list entry changed (after the change).",
            sev,
        )
        self.aggregated = counter(
            "alertflow_ingest_alerts_aggregated",
            "Aggregated alerts emitted for repeated events (Alertflex's <src>_agg).",
            sev,
        )
        self.dead_letters = counter(
            "alertflow_ingest_dead_letters",
            "Events kept as dead letters, by the source they were read as and by reason.",
            ["source", "reason"],
        )
        self.write_failures = counter(
            "alertflow_ingest_batch_write_failures", "Failed batch transactions (each is retried).", []
        )
        self.commit_seconds = Histogram(
            "alertflow_ingest_batch_commit_seconds",
            "Seconds one batch transaction took (successful attempts).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> IngestMetrics:
        """The one IngestMetrics of `registry` (a registry refuses the same metric twice)."""
        with _MADE_LOCK:
            made = _MADE.get(registry)
            if made is None:
                made = _MADE[registry] = cls(registry)
            return made

    def count_batch(
        self,
        tally: Tally[tuple[str, str, str]],
        dead_letters: Sequence[Any],
        rows: Sequence[tuple[Any, ...]] | None,
        stored_rows: Sequence[int] | None,
        duplicates: int,
    ) -> None:
        """Add one committed batch: its decode tally, its dead letters and which of its rows were stored.

        `stored_rows` None means every row was stored (then the emitted tally is what was stored).
        """
        for (what, source, severity), n in tally.items():
            if what == "received":
                self.received.labels(source).inc(n)
            elif what == "emitted":
                self.emitted.labels(source, severity).inc(n)
                if stored_rows is None:
                    self.stored.labels(source, severity).inc(n)
            elif what == "dropped_threshold":
                self.dropped_threshold.labels(source, severity).inc(n)
            elif what in _FILTERED:
                self.filtered.labels(source, severity, _FILTERED[what]).inc(n)
            elif what == "modified":
                self.modified.labels(source, severity).inc(n)
            elif what == "aggregated":
                self.aggregated.labels(source, severity).inc(n)
        if stored_rows is not None and rows is not None:
            stored: Tally[tuple[str, str]] = Tally(
                (source_label(rows[i][_SOURCE_AT]), severity_label(rows[i][_SEVERITY_AT]))
                for i in stored_rows
            )
            for (source, severity), n in stored.items():
                self.stored.labels(source, severity).inc(n)
        if duplicates:
            self.duplicates.inc(duplicates)
        if dead_letters:
            by: Tally[tuple[str, str]] = Tally((_dead_source(d.source), d.kind) for d in dead_letters)
            for (source, reason), n in by.items():
                self.dead_letters.labels(source, reason).inc(n)


def _dead_source(value: str) -> str:
    """A dead letter's source is a delivery's source hint (auto, suricata, ...) or an alert's source."""
    label = source_label(value)
    return "auto" if label == "other" and value == "auto" else label


class QueueDepths(Collector):
    """Gauges read at scrape time from the worker's queues: `depths()` → {(queue, unit): value}."""

    def __init__(self, depths: Callable[[], dict[tuple[str, str], float]]) -> None:
        self._depths = depths

    def collect(self) -> Iterator[Metric]:
        """alertflow_ingest_queue_depth{queue, unit}."""
        family = GaugeMetricFamily(
            "alertflow_ingest_queue_depth",
            "What waits in the worker: inbox (deliveries, bytes, events) and decoded batches waiting to be stored.",
            labels=["queue", "unit"],
        )
        for (queue, unit), value in sorted(self._depths().items()):
            family.add_metric([queue, unit], value)
        yield family

    def describe(self) -> list[Metric]:
        """Nothing up front (the worker may not have started)."""
        return []
