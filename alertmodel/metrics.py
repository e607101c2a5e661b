"""Prometheus metrics every alertflow process shares: one registry, label helpers, database gauges.

Each process (the ingest worker, the API) has its own `REGISTRY` and exposes it as the
Prometheus text format. The ingest counters are made per worker by `ingest.metrics`; what
lives here is what more than one layer sets (response actions, forwarder lag) and what is
read from the database at scrape time (`DatabaseGauges`: outbox and playbook runs).

Labels never carry attacker-written text: a source is one of `SOURCE_LABELS` (or "other"),
a severity one of 0..3 (or "other"); every label value comes from a fixed set or from
configuration (deployment names, forwarder names, action kinds).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from alertmodel.posture import NodeStats
from alertmodel.response_tables import Outbox, PlaybookRun
from alertmodel.types import utcnow

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
"""This process's metrics; `prometheus_client.generate_latest(REGISTRY)` is the /metrics body."""
ProcessCollector(registry=REGISTRY)

SOURCE_LABELS = ("wazuh", "suricata", "falco", "modsecurity", "misp", "generic", "other")
"""Values of the `source` label: the alert's source when it is a known one, else "other"."""
_COUNTER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_MAX_COUNTERS = 64  # a collector reports 24 (4 sources x agg, filter, s0..s3)
_MAX_NODES = 1000
_KNOWN_SOURCES = {s: s for s in SOURCE_LABELS[:-2]}
SEVERITY_LABELS = ("0", "1", "2", "3")


def source_label(value: object) -> str:
    """The `source` label of an alert whose `source` field is `value` (e.g. "Suricata" → "suricata")."""
    if type(value) is str:
        return _KNOWN_SOURCES.get(value.lower(), "other")
    return "other"


def severity_label(value: object) -> str:
    """ "0".."3", or "other" for anything else."""
    if type(value) is int and 0 <= value <= 3:
        return SEVERITY_LABELS[value]
    return "other"


ACTIONS_FAILED = Counter(
    "alertflow_response_actions_failed",
    "Outbox actions that failed for good (after their last attempt), by action kind.",
    ["kind"],
    registry=REGISTRY,
)
ALERT_TO_FLOW_RUN_SECONDS = Histogram(
    "alertflow_alert_to_flow_run_seconds",
    "Seconds from an alert's batch commit (its outbox row) to its playbook's flow run being created.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
FORWARDER_LAG = Gauge(
    "alertflow_forwarder_lag_seconds",
    "Seconds between now and the storing of the oldest alert a forwarder has not sent yet (0 when caught up).",
    ["forwarder"],
    registry=REGISTRY,
)


class DatabaseGauges(Collector):
    """Outbox depth, the oldest due action's age and playbook runs by deployment and state.

    Read from the database by `refresh()`, never while Prometheus waits: the worker calls it
    from a thread every `interval_s` (`start`), the API when its snapshot is older than that.
    """

    def __init__(self, engine: Engine, *, interval_s: float = 5.0) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._snapshot: list[Metric] = []
        self._taken_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def collect(self) -> Iterator[Metric]:
        """The last snapshot (empty until the first refresh)."""
        return iter(self._snapshot)

    def describe(self) -> list[Metric]:
        """Nothing up front: a registry must not read the database when the collector is added."""
        return []

    @property
    def age_s(self) -> float:
        """Seconds since the last refresh (infinite before the first)."""
        return time.monotonic() - self._taken_at if self._taken_at else float("inf")

    def refresh(self, now: datetime | None = None) -> None:
        """Query the database and replace the snapshot; the old one stays when the query fails."""
        now = now or utcnow()
        outbox, runs = Outbox.__table__, PlaybookRun.__table__
        with self.engine.connect() as conn:
            by_state = dict(
                conn.execute(
                    select(outbox.c.state, func.count())
                    .where(outbox.c.state.in_(("pending", "failed")))
                    .group_by(outbox.c.state)
                ).all()
            )
            oldest_due = conn.execute(
                select(func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.state == "pending", outbox.c.next_attempt_at <= now
                )
            ).scalar()
            run_states = conn.execute(
                select(runs.c.deployment, runs.c.state, func.count()).group_by(
                    runs.c.deployment, runs.c.state
                )
            ).all()
        depth = GaugeMetricFamily(
            "alertflow_outbox_depth",
            "Outbox actions waiting (pending) or given up (failed).",
            labels=["state"],
        )
        for state in ("pending", "failed"):
            depth.add_metric([state], int(by_state.get(state, 0)))
        due = GaugeMetricFamily(
            "alertflow_outbox_oldest_due_age_seconds",
            "Seconds the oldest due pending outbox action has been waiting past its due time (0 when none).",
        )
        due.add_metric([], max((now - _naive(oldest_due, now)).total_seconds(), 0.0) if oldest_due else 0.0)
        flow_runs = GaugeMetricFamily(
            "alertflow_playbook_runs",
            "Playbook flow runs recorded for alerts, by deployment and last known state.",
            labels=["deployment", "state"],
        )
        for deployment, state, count in run_states:
            flow_runs.add_metric([str(deployment), str(state)], int(count))
        with self._lock:
            self._snapshot = [depth, due, flow_runs, self._collector_alerts()]
            self._taken_at = time.monotonic()

    def _collector_alerts(self) -> Metric:
        """The newest `node_alerts` report of each Alertflex collector node, counter by counter."""
        stats = NodeStats.__table__
        newest = select(func.max(stats.c.id)).group_by(stats.c.node_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(stats.c.node_id, stats.c.stats).where(stats.c.id.in_(newest)).limit(_MAX_NODES)
            ).all()
        family = GaugeMetricFamily(
            "alertflow_collector_node_alerts",
            "The newest statistics report of each Alertflex collector node: <src>_agg, <src>_filter, "
            "<src>_s0..s3 as the collector counted them.",
            labels=["node", "counter"],
        )
        for node, report in rows:
            for counter, value in node_alert_counters(report):
                family.add_metric([str(node)[:255], counter], value)
        return family

    def refresh_if_older(self, seconds: float) -> None:
        """`refresh()` unless the snapshot is younger than `seconds`; a failed refresh keeps the old one."""
        if self.age_s >= seconds:
            try:
                self.refresh()
            except Exception as exc:  # the store is down: serve the last snapshot, never an error page
                _log_refresh_failure(exc)

    def start(self) -> None:
        """Refresh every `interval_s` in a daemon thread until `stop()`."""
        self._thread = threading.Thread(target=self._run, name="metrics-db", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the refresh thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception as exc:  # a database outage must not end the thread; the gauges go stale
                _log_refresh_failure(exc)
            if self._stop.wait(self.interval_s):
                return


def node_alert_counters(report: object) -> list[tuple[str, float]]:
    """The numeric counters of a statistics report's `node_alerts` element; names are bounded."""
    counters: list[tuple[str, float]] = []
    for element in report if isinstance(report, list) else []:
        if not isinstance(element, dict) or element.get("type") != "node_alerts":
            continue
        data = element.get("data")
        for name, value in data.items() if isinstance(data, dict) else ():
            if _COUNTER_NAME.fullmatch(str(name)) and type(value) in (int, float):
                counters.append((str(name), float(value)))
    return counters[:_MAX_COUNTERS]


def _naive(value: datetime, like: datetime) -> datetime:
    """Drivers return naive UTC or aware datetimes depending on the column type; compare like with like."""
    if (value.tzinfo is None) == (like.tzinfo is None):
        return value
    return value.replace(tzinfo=like.tzinfo) if value.tzinfo is None else value.replace(tzinfo=None)


def _log_refresh_failure(exc: Exception) -> None:
    log.warning("reading the metrics' database gauges failed: %s", type(exc).__name__)
