"""`alertflow cluster` end to end: 2 ingest workers on one ActiveMQ queue, Prefect on PostgreSQL
with 2 API servers behind nginx, a services process, Redis messaging, 2 Prefect workers on the
process pool; alerts with 20% matching the demo response profile.

Clean run: every alert stored once, every matching alert exactly one flow run, Completed on a
worker. Then the same with kill -9 of one ingest worker, one API server and one Prefect worker
(with its flow-run processes) in the middle: every alert stored once, no alert with two
Completed runs, and every run the dead worker held visible as Crashed (Prefect automations made
by `cluster up`: a started run after 45 s without a heartbeat, a claimed one not started after
the start timeout, 120 s here).

Size: ALERTFLOW_TEST_CLUSTER_ALERTS alerts per run (default 250, 50 flow runs; both tests took
6 min here): a flow run is a process of its own (~2 s of CPU, 5-20 s of wall time on 2 cores
shared with other suites), so 10,000 alerts (2,000 runs) would take hours; bench/scale.py
keeps the 1,000-alert burst.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from alertflow.cluster.work_pool import command_default, engine_command
from bench.support.cluster import LocalCluster, alert_of, scale_event
from tests.integration.ingest_kit import require_broker

pytestmark = pytest.mark.integration

ALERTS = int(os.environ.get("ALERTFLOW_TEST_CLUSTER_ALERTS", "250"))
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_for(condition: Any, what: str, timeout_s: float, show: Any = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}" + (f": {show()}" if show else ""))


def run_states(cluster: LocalCluster) -> Counter[str]:
    return Counter(r["state_name"] for runs in runs_by_alert(cluster).values() for r in runs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    require_broker()
    root = tmp_path_factory.mktemp("cluster")
    root.chmod(0o700)
    local = LocalCluster(root, redis_db=13, start_timeout_s=120)
    try:
        local.up()
        yield local
    finally:
        local.down()


def batch(start: int, count: int, tag: str) -> tuple[list[bytes], int]:
    """`count` alerts numbered from `start`, every fifth matching; and how many match."""
    bodies = [scale_event(n, tag, matching=n % 5 == 0) for n in range(start, start + count)]
    return bodies, sum(1 for n in range(start, start + count) if n % 5 == 0)


def runs_by_alert(cluster: LocalCluster) -> dict[str, list[dict[str, Any]]]:
    with cluster.prefect() as client:
        runs = cluster.flow_runs(client)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        grouped.setdefault(alert_of(run), []).append(run)
    return grouped


@pytest.mark.timeout(480)
def test_every_alert_stored_once_and_every_matching_alert_one_completed_run(cluster: LocalCluster) -> None:
    status = cluster.status()
    assert [name for name, s in status.items() if not s["healthy"]] == []
    assert {
        "prefect-api-1",
        "prefect-api-2",
        "prefect-services",
        "lb",
        "prefect-worker-1",
        "prefect-worker-2",
    } <= set(status)
    assert {"ingest-1", "ingest-2", "api"} <= set(status)
    bodies, matching = batch(0, ALERTS, "clean")
    cluster.publish(bodies)
    wait_for(lambda: cluster.stored() == (ALERTS, ALERTS), f"{ALERTS} alerts stored", 120)

    def all_completed() -> dict[str, list[dict[str, Any]]] | None:
        grouped = runs_by_alert(cluster)
        done = sum(1 for runs in grouped.values() for r in runs if r["state_type"] in TERMINAL)
        return grouped if len(grouped) == matching and done == sum(map(len, grouped.values())) else None

    grouped = wait_for(all_completed, f"{matching} flow runs finished", 420, lambda: run_states(cluster))
    assert cluster.stored() == (ALERTS, ALERTS)
    assert {alert: len(runs) for alert, runs in grouped.items() if len(runs) != 1} == {}
    states = Counter(runs[0]["state_name"] for runs in grouped.values())
    assert states == {"Completed": matching}
    assert {runs[0]["work_pool_name"] for runs in grouped.values()} == {cluster.settings.work_pool}
    # The pool starts each flow run as the engine itself (no workspace supervisor process before it).
    with cluster.prefect() as client:
        pool = client.get(f"/work_pools/{cluster.settings.work_pool}").raise_for_status().json()
    assert command_default(pool["base_job_template"]) == engine_command(sys.executable)
    # Both ingest workers consumed (competing consumers on one queue).
    for name in ("ingest-1", "ingest-2"):
        log = (cluster.settings.data_dir / "logs" / f"{name}.log").read_text()  # type: ignore[operator]
        assert "consuming stomp://" in log, name


@pytest.mark.timeout(600)
def test_kill_9_of_an_ingest_worker_an_api_server_and_a_prefect_worker_loses_and_doubles_nothing(
    cluster: LocalCluster,
) -> None:
    before, _ = cluster.stored()
    clean_runs = runs_by_alert(cluster)
    bodies, matching = batch(ALERTS, ALERTS, "kill")
    # A steady stream (about 25 s), so the kills land while alerts and runs are in flight.
    publisher = threading.Thread(target=cluster.publish, args=(bodies,), kwargs={"per_second": ALERTS / 25})
    publisher.start()
    wait_for(lambda: cluster.stored()[0] >= before + ALERTS // 3, "a third of the alerts stored", 120)
    killed = {"ingest-1": cluster.kill("ingest-1"), "prefect-api-1": cluster.kill("prefect-api-1")}

    def worker_busy() -> bool:
        grouped = runs_by_alert(cluster)
        return any(
            r["state_type"] == "RUNNING" for a, runs in grouped.items() if a not in clean_runs for r in runs
        )

    wait_for(worker_busy, "a flow run of this batch running", 240)
    killed["prefect-worker-1"] = cluster.kill("prefect-worker-1")
    publisher.join(120)
    status = cluster.status()
    assert {n for n, s in status.items() if s["pid"] is None} == {
        "ingest-1",
        "prefect-api-1",
        "prefect-worker-1",
    }
    assert status["lb"]["healthy"] and status["prefect-api-2"]["healthy"]

    total = before + ALERTS
    wait_for(lambda: cluster.stored() == (total, total), f"{total} alerts stored", 180)

    def settled() -> dict[str, list[dict[str, Any]]] | None:
        grouped = {a: runs for a, runs in runs_by_alert(cluster).items() if a not in clean_runs}
        finished = all(r["state_type"] in TERMINAL for runs in grouped.values() for r in runs)
        return grouped if len(grouped) == matching and finished else None

    # Runs the dead worker held turn Crashed: 45 s without a heartbeat, or 120 s not started.
    grouped = wait_for(
        settled, f"{matching} alerts' runs finished or Crashed", 420, lambda: run_states(cluster)
    )
    assert cluster.stored() == (total, total)
    completed = {a: sum(r["state_name"] == "Completed" for r in runs) for a, runs in grouped.items()}
    assert {a: n for a, n in completed.items() if n > 1} == {}, "an alert's playbook completed twice"
    crashed = [r for runs in grouped.values() for r in runs if r["state_name"] != "Completed"]
    assert {r["state_type"] for r in crashed} <= {"CRASHED"}, Counter(r["state_name"] for r in crashed)
    assert {a for a, n in completed.items() if n == 0} <= {alert_of(r) for r in crashed}
    print(  # the figures of this run, for the record
        f"\nkill run: {ALERTS} alerts, {matching} matching, killed {killed}, "
        f"{sum(completed.values())} Completed, {len(crashed)} Crashed"
    )
