"""The worker's Prometheus counters: counted once per committed batch, in the worker process."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, select

from alertmodel import Alert, DeadLetter, migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.delivery import Delivery, Inbox
from ingest.metrics import IngestMetrics, QueueDepths
from ingest.policy import Policy
from ingest.worker import Worker
from tests.ingest.conftest import sample_lines
from tests.ingest.events import BAD_LINES, suricata_alerts, wait_for

FILES = {
    "suricata": "suricata/eve-7.0.10-alerts.json",
    "wazuh": "wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json",
    "falco": "falco/elastic-falco_alerts-test-falco.log",
}


class PushSource:
    """Deliveries the test hands over one at a time (`push`), so it can act between batches."""

    name = "push"

    def __init__(self) -> None:
        self.inbox: Inbox | None = None
        self.done = threading.Event()

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    def start(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def push(self, lines: list[bytes], source: str = "auto") -> None:
        assert self.inbox is not None and self.inbox.put(Delivery(lines=lines, origin="push", source=source))

    def stop_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def engine(sqlite_database: str) -> Iterator[Engine]:
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def total(registry: CollectorRegistry, name: str, **match: str) -> float:
    """The sum of `name`'s samples whose labels include `match`."""
    return sum(
        s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in match.items())
    )


def stored_by_source_and_severity(engine: Engine) -> Counter[tuple[str, str]]:
    alert = Alert.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(alert.c.source, alert.c.severity, func.count()).group_by(alert.c.source, alert.c.severity)
        )
        return Counter({(str(s).lower(), str(sev)): int(n) for s, sev, n in rows})


def run_worker(engine: Engine, metrics: IngestMetrics, deliveries: list[tuple[list[bytes], str]]) -> Worker:
    source = PushSource()
    worker = Worker(engine, IngestCore(), [source], batch_size=500, batch_wait_s=0.02, metrics=metrics)
    worker.start()
    for lines, hint in deliveries:
        source.push(lines, hint)
    source.done.set()
    assert worker.wait(120), "the worker did not finish"
    return worker


def test_counts_per_source_and_severity_match_what_was_stored(engine: Engine) -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    worker = run_worker(engine, metrics, [(sample_lines(path), "auto") for path in FILES.values()])

    for source, path in FILES.items():
        lines = [line for line in sample_lines(path) if line.strip()]
        assert value(registry, "alertflow_ingest_events_received_total", source=source) == len(lines)
    stored = stored_by_source_and_severity(engine)
    assert sum(stored.values()) == worker.stats.stored > 0
    for (source, severity), n in stored.items():
        labels = {"source": source, "severity": severity}
        assert value(registry, "alertflow_ingest_alerts_stored_total", **labels) == n, labels
        assert value(registry, "alertflow_ingest_alerts_emitted_total", **labels) == n, labels
    assert total(registry, "alertflow_ingest_alerts_stored_total") == worker.stats.stored
    assert value(registry, "alertflow_ingest_batch_commit_seconds_count") == worker.stats.batches


def test_dead_letters_are_counted_by_reason(engine: Engine) -> None:
    registry = CollectorRegistry()
    lines = [*BAD_LINES, b'{"no": "known shape"}']
    worker = run_worker(engine, IngestMetrics(registry), [(lines, "auto")])

    with engine.connect() as conn:
        letters = int(conn.execute(select(func.count()).select_from(DeadLetter.__table__)).scalar_one())
    assert total(registry, "alertflow_ingest_dead_letters_total") == letters == worker.stats.dead_lettered > 0
    assert value(registry, "alertflow_ingest_dead_letters_total", source="auto", reason="invalid_json") > 0
    assert value(registry, "alertflow_ingest_dead_letters_total", source="auto", reason="unknown_shape") > 0
    received = total(registry, "alertflow_ingest_events_received_total")
    assert received == len([line for line in lines if line.strip()])


def test_a_redelivery_counts_as_duplicates_and_only_new_alerts_as_stored(engine: Engine) -> None:
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    run_worker(engine, metrics, [(suricata_alerts(30, "redo"), "auto")])
    # half stored already: SQLite's fast path must find out which rows it inserted
    run_worker(engine, metrics, [(suricata_alerts(30, "redo", start=15), "auto")])

    stored = stored_by_source_and_severity(engine)
    assert sum(stored.values()) == 45
    assert total(registry, "alertflow_ingest_alerts_stored_total", source="suricata") == 45
    assert total(registry, "alertflow_ingest_alerts_emitted_total", source="suricata") == 60
    assert value(registry, "alertflow_ingest_alerts_duplicate_total") == 15
    assert value(registry, "alertflow_ingest_events_received_total", source="suricata") == 60


def test_a_replaced_decode_process_loses_nothing_and_counts_nothing_twice(engine: Engine) -> None:
    registry = CollectorRegistry()
    source = PushSource()
    worker = Worker(
        engine, IngestCore(), [source], batch_size=100, batch_wait_s=0.02, metrics=IngestMetrics(registry)
    )
    worker.start()
    try:
        source.push(suricata_alerts(40, "child"))
        wait_for(lambda: worker.stats.stored == 40, what="the first batch")
        child = worker._decoder._process  # type: ignore[union-attr]
        assert child is not None and child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        source.push(suricata_alerts(40, "child", start=40))
        wait_for(lambda: worker.stats.stored == 80, what="the batch after the child was killed")
        assert worker._decoder is not None and worker._decoder._process is not child  # replaced, not bypassed
    finally:
        source.done.set()
        assert worker.wait(120)
    assert value(registry, "alertflow_ingest_events_received_total", source="suricata") == 80
    assert total(registry, "alertflow_ingest_alerts_stored_total", source="suricata") == 80
    assert total(registry, "alertflow_ingest_alerts_emitted_total", source="suricata") == 80


def test_policy_drops_are_tallied_per_source_and_severity_as_the_core_counts_them() -> None:
    policy = Policy.model_validate(
        {"sources": {"nids": {"severity": {"threshold": 3, "level0": 1, "level1": 2, "level2": 3}}}}
    )
    lines = [line for line in sample_lines(FILES["suricata"]) if line.strip()]
    out = IngestCore(policy=policy).process(lines)
    dropped = {k: n for k, n in out.tally.items() if k[0] == "dropped_threshold"}
    assert sum(dropped.values()) == out.counts["dropped_threshold"] > 0
    assert all(source == "suricata" and severity in ("0", "1", "2") for _, source, severity in dropped)
    emitted = sum(n for k, n in out.tally.items() if k[0] == "emitted")
    assert emitted == len(out.alerts)


def test_queue_depths_are_read_when_scraped() -> None:
    registry = CollectorRegistry()
    depths = {("inbox", "deliveries"): 3.0, ("prepared", "batches"): 1.0}
    registry.register(QueueDepths(lambda: depths))
    assert value(registry, "alertflow_ingest_queue_depth", queue="inbox", unit="deliveries") == 3
    depths[("inbox", "deliveries")] = 0.0
    assert value(registry, "alertflow_ingest_queue_depth", queue="inbox", unit="deliveries") == 0
