"""Scale-out on one machine: `alertflow cluster` (Prefect on PostgreSQL, 2 API servers behind
nginx, a services process, Redis, 2 Prefect workers on the process pool, 2 ingest workers on one
ActiveMQ queue) against the embedded SQLite server `alertflow up` runs, in the same run.

1. burst: N matching alerts at once → flow runs created per second. Cluster: over ActiveMQ, the
   ingest workers' dispatchers through the load balancer (work pool paused, so no run executes
   and competes for the CPU). Embedded: `alertflow up`'s server settings (SQLite, late runs off),
   an ingest worker with the dispatcher (bench/trigger_latency.py's burst). server_stalls: health
   checks through the load balancer every 0.5 s that got no 200 within 3 s.
2. trigger: matching alerts one at a time over ActiveMQ → flow run `created` (Prefect's clock,
   same machine) through the load balancer: p50/p99.
3. running: the same with the pool running → flow run `start_time` on a Prefect worker: p50.
4. ingest and stomp: bench/support/ingest_scale.py's figures, when that module is present.

Prints {"bench": "scale", "figure": ...} lines. `--alerts N`: burst N, trigger N/5, running N/50.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from alertflow.up.prefect_server import HealthWatch  # noqa: E402
from bench.support.cluster import LocalCluster, scale_event  # noqa: E402

INGEST_SCALE = BENCH / "support" / "ingest_scale.py"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def wait(condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(poll_s)
    return value


class Bench:
    """The measurements on one running cluster."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.prefect = cluster.prefect()
        self.serial = 10_000_000  # event numbers: every alert distinct

    def events(self, n: int, tag: str) -> list[bytes]:
        start, self.serial = self.serial, self.serial + n
        return [scale_event(i, tag, matching=True) for i in range(start, start + n)]

    def pool_paused(self, paused: bool) -> None:
        pool = self.cluster.settings.work_pool
        self.prefect.patch(f"/work_pools/{pool}", json={"is_paused": paused}).raise_for_status()

    def run_ids(self) -> list[str]:
        """Flow run ids the dispatchers have created, oldest first."""
        with self.cluster.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT flow_run_id FROM playbook_run WHERE flow_run_id IS NOT NULL ORDER BY id")
            )
            return [r[0] for r in rows]

    def outbox_open(self) -> int:
        with self.cluster.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM outbox WHERE state <> 'done'")).scalar_one())

    def delete_runs(self, ids: list[str]) -> None:
        """Runs made only to be counted never execute (their pool was paused)."""
        for run_id in ids:
            response = self.prefect.delete(f"/flow_runs/{run_id}")
            if response.status_code not in (204, 404):
                response.raise_for_status()

    def burst(self, n: int) -> tuple[float, int]:
        """(flow runs created per second, unanswered health checks) for n matching alerts at once."""
        self.pool_paused(True)
        before = len(self.run_ids())
        bodies = self.events(n, "burst")
        with HealthWatch(self.cluster.settings.lb_api_url, timeout_s=3) as health:
            started = time.perf_counter()
            self.cluster.publish(bodies)
            wait(
                lambda: len(self.run_ids()) >= before + n and not self.outbox_open(),
                3600,
                "the burst's runs",
                0.2,
            )
            rate = n / (time.perf_counter() - started)
        self.delete_runs(self.run_ids()[before:])
        return rate, health.unanswered

    def one_by_one(self, n: int, tag: str, until: Callable[[dict[str, Any]], float | None]) -> list[float]:
        """Seconds from sending each of n alerts (one at a time) to `until(its flow run)`."""
        latencies = []
        for body in self.events(n, tag):
            before = len(self.run_ids())
            sent = time.time()
            self.cluster.publish([body])

            def created(before: int = before) -> str | None:
                ids = self.run_ids()
                return ids[-1] if len(ids) > before else None

            run_id = wait(created, 120, "the alert's flow run")

            def reached(run_id: str = run_id) -> float | None:
                return until(self.prefect.get(f"/flow_runs/{run_id}").raise_for_status().json())

            latencies.append(wait(reached, 300, "the flow run", 0.05) - sent)
        return latencies

    def trigger(self, n: int) -> list[float]:
        self.pool_paused(True)
        before = len(self.run_ids())
        latencies = self.one_by_one(n, "trigger", lambda run: ts(run["created"]))
        self.delete_runs(self.run_ids()[before:])
        return latencies

    def running(self, n: int) -> list[float]:
        self.pool_paused(False)
        return self.one_by_one(n, "running", lambda run: run["start_time"] and ts(run["start_time"]))


def embedded_burst(root: Path, n: int) -> tuple[float, int]:
    """bench/trigger_latency.py's burst on `alertflow up`'s embedded SQLite server."""
    import trigger_latency

    with trigger_latency.prefect_server(root, "embedded") as server:
        return trigger_latency.dispatcher_burst(root, server, n, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000, help="burst size (trigger N/5, running N/50)")
    args = parser.parse_args()
    n = args.alerts
    with tempfile.TemporaryDirectory(prefix="alertflow-scale-") as tmp:
        root = Path(tmp)
        root.chmod(0o700)
        embedded_rate, _ = embedded_burst(root / "embedded", n)
        cluster = LocalCluster(root / f"cluster-{uuid.uuid4().hex[:6]}", redis_db=14)
        try:
            took = cluster.up()
            print(f"cluster up in {took:.1f} s", file=sys.stderr)
            bench = Bench(cluster)
            rate, stalls = bench.burst(n)
            print(
                json.dumps(
                    {
                        "bench": "scale",
                        "figure": "burst",
                        "runs_per_s": round(rate, 1),
                        "embedded_runs_per_s": round(embedded_rate, 1),
                        "ratio": round(rate / embedded_rate, 2),
                        "server_stalls": stalls,
                    }
                ),
                flush=True,
            )
            trigger = bench.trigger(max(n // 5, 2))
            print(
                json.dumps(
                    {
                        "bench": "scale",
                        "figure": "trigger",
                        "p50_ms": round(percentile(trigger, 0.5) * 1000, 1),
                        "p99_ms": round(percentile(trigger, 0.99) * 1000, 1),
                    }
                ),
                flush=True,
            )
            running = bench.running(max(n // 50, 2))
            print(
                json.dumps(
                    {"bench": "scale", "figure": "running", "p50_s": round(percentile(running, 0.5), 2)}
                ),
                flush=True,
            )
        finally:
            cluster.down()
    if INGEST_SCALE.exists():  # the ingest-side figures live with the ingest benchmarks
        from bench.support import ingest_scale

        print(json.dumps(ingest_scale.ingest_figure(10 * n)), flush=True)
        print(json.dumps(ingest_scale.stomp_figure(10 * n)), flush=True)


if __name__ == "__main__":
    main()
