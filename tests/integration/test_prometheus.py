"""A real Prometheus (Debian's `prometheus`) scrapes a running `alertflow ingest --metrics-port`.

The worker reads a file of known events; PromQL over Prometheus's HTTP API must return exactly
the alerts stored per source and the dead letters per reason that the file holds.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alertflow.up.prefect_server import free_port
from alertmodel import migrate
from alertmodel.engine import make_engine
from tests.ingest.conftest import sample_lines
from tests.ingest.events import count_alerts, suricata_alerts, wait_for
from tests.integration.ingest_kit import WorkerProcess

SURICATA_ALERTS = 120
FALCO_FILE = "falco/elastic-falco_alerts-test-falco.log"
BAD_JSON = [b"{not json", b'{"half": ', b"[1, 2", b"\x00\x01binary", b'{"a": tru}']
UNKNOWN_SHAPE = [b'{"no": "known shape"}', b'{"x": 1}', b'{"hello": "world", "n": 2}']


def tagged(line: bytes, tag: str) -> bytes:
    """A JSON object line with a first key that makes it distinct from every other line."""
    return b'{"alertflow_test":"' + tag.encode() + b'",' + line.strip()[1:]


@pytest.fixture
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(
            "prometheus is not installed; run `bash scripts/services.sh up` (Debian package prometheus)"
        )
    return path


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Prometheus on a free loopback port with its own config and storage; yields (query URL, target port)."""
    target = free_port()
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: alertflow-ingest\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout=60, what="Prometheus to be ready")
        yield base, target
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def query(base: str, promql: str, by: str) -> dict[str, float]:
    """An instant PromQL query: {value of label `by`: sample value}."""
    answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    return {r["metric"].get(by, ""): float(r["value"][1]) for r in body["data"]["result"]}


def test_prometheus_scraping_the_worker_sees_exactly_the_events_sent(
    prometheus: tuple[str, int], sqlite_database: str, tmp_path: Path
) -> None:
    base, metrics_port = prometheus
    falco = [tagged(line, f"falco-{i}") for i, line in enumerate(sample_lines(FALCO_FILE)) if line.strip()]
    lines = [*suricata_alerts(SURICATA_ALERTS, "prom"), *falco, *BAD_JSON, *UNKNOWN_SHAPE]
    events = tmp_path / "events.json"
    events.write_bytes(b"".join(line + b"\n" for line in lines))
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    worker = WorkerProcess(
        ["--source", f"file:{events}", "--metrics-port", str(metrics_port)],
        {"ALERTFLOW_DATABASE_URL": sqlite_database},
        tmp_path / "worker.log",
    )
    expected_stored = {"suricata": SURICATA_ALERTS, "falco": len(falco)}
    expected_dead = {"invalid_json": len(BAD_JSON), "unknown_shape": len(UNKNOWN_SHAPE)}
    stored_q = "sum by (source) (alertflow_ingest_alerts_stored_total)"
    dead_q = "sum by (reason) (alertflow_ingest_dead_letters_total)"
    try:
        wait_for(
            lambda: count_alerts(engine)[0] == sum(expected_stored.values()), timeout=120, what="the alerts"
        )
        wait_for(
            lambda: (
                query(base, stored_q, "source") == expected_stored
                and query(base, dead_q, "reason") == expected_dead
            ),
            timeout=60,
            what=f"Prometheus to see the counts (worker log: {worker.log})",
        )
        time.sleep(3)  # more scrapes: the counts stay exact (nothing counted twice later)
        assert query(base, stored_q, "source") == expected_stored
        assert query(base, dead_q, "reason") == expected_dead
        received = query(base, "sum by (source) (alertflow_ingest_events_received_total)", "source")
        assert received == {
            "suricata": SURICATA_ALERTS,
            "falco": len(falco),
            "unknown": len(BAD_JSON) + len(UNKNOWN_SHAPE),
        }
        up = query(base, 'up{job="alertflow-ingest"}', "instance")
        assert up == {f"127.0.0.1:{metrics_port}": 1.0}
        commits = query(base, "alertflow_ingest_batch_commit_seconds_count", "job")
        assert commits["alertflow-ingest"] >= 1
    finally:
        code = worker.terminate()
        engine.dispose()
    assert code == 0, worker.tail()
