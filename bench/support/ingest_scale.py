"""Ingest figures of the scale benchmark: competing ingest worker processes on one ActiveMQ queue
into MariaDB, and STOMP → database against its two baselines.

`ingest_figure(n)`: the same `n` events are published to a fresh queue, then 1 (and, on another
queue and store, 2) `alertflow ingest --no-dispatch --source stomp://…` processes consume it into
a fresh MariaDB store. The clock starts once every process has subscribed (its "consuming" log
line) and stops when the last alert is stored; events already stored by then are not counted.

`stomp_figure(n)`: STOMP → MariaDB through one in-process worker (`bench.ingest_worker.stomp_pipeline`),
against the slower of (a) the broker alone: a bare stomp.py consumer receiving and acking the
same messages, same ack mode (client-individual) and prefetch, no processing
(`bench.ingest_worker.broker_only`), and (b) plain `executemany` of the rows the pipeline stores
(`bench.ingest_worker.baseline`).

Run alone: `python bench/support/ingest_scale.py --events N` prints both JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from alertmodel.engine import make_engine  # noqa: E402
from bench.ingest_worker import (  # noqa: E402
    BATCH,
    STOMP,
    _drop,
    baseline,
    broker_only,
    events,
    fill_queue,
    fresh_store,
    stomp_pipeline,
    stored,
)
from ingest.core import IngestCore  # noqa: E402

PREFETCH = 2 * BATCH


def workers_rate(url: str, queue: str, n: int, workers: int, logs: Path) -> float:
    """Events/s that `workers` ingest processes store from `queue` (holding `n` events) into `url`."""
    env = {
        **os.environ,
        "ALERTFLOW_DATABASE_URL": url,
        "PYTHONPATH": str(REPO),
        "ALERTFLOW_LOG_LEVEL": "INFO",
    }
    args = ["--no-dispatch", "--source", f"stomp://{STOMP[0]}:{STOMP[1]}{queue}"]
    args += ["--batch-size", str(BATCH), "--prefetch", str(PREFETCH)]
    paths = [logs / f"{uuid.uuid4().hex[:8]}.log" for _ in range(workers)]
    procs = []
    for path in paths:
        with path.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "alertflow", "ingest", *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + 120
        while not all(b"consuming stomp://" in p.read_bytes() for p in paths):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"an ingest worker did not subscribe; see {logs}")
            time.sleep(0.02)
        started, before = time.perf_counter(), stored(engine)
        while (done := stored(engine)) < n:
            if time.monotonic() > deadline + 600:
                raise SystemExit(f"only {done} of {n} stored; see {logs}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(90)
        engine.dispose()
    if done != n:
        raise SystemExit(f"{done} alerts stored for {n} events")
    return (n - before) / elapsed


def ingest_figure(n: int) -> dict[str, Any]:
    """`{"bench": "scale", "figure": "ingest", ...}`: 1 and 2 ingest worker processes, ActiveMQ → MariaDB."""
    made: list[str] = []
    run = uuid.uuid4().hex[:8]
    rates: dict[int, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="alertflow-scale-") as tmp:
            for workers in (1, 2):
                lines = events(n, f"{run}-w{workers}")
                queue = fill_queue(lines)
                rates[workers] = workers_rate(
                    fresh_store("mariadb", Path(tmp), made), queue, n, workers, Path(tmp)
                )
                _drop(made)
    finally:
        _drop(made)
    return {
        "bench": "scale",
        "figure": "ingest",
        "workers_1_per_s": round(rates[1]),
        "workers_2_per_s": round(rates[2]),
        "ratio": round(rates[2] / rates[1], 3),
    }


def stomp_figure(n: int) -> dict[str, Any]:
    """`{"bench": "scale", "figure": "stomp", ...}`: STOMP → MariaDB against the slower of broker-only and executemany."""
    made: list[str] = []
    run = uuid.uuid4().hex[:8]
    lines = events(n, f"{run}-s")
    rows = IngestCore().process(lines).alerts
    try:
        with tempfile.TemporaryDirectory(prefix="alertflow-scale-") as tmp:
            broker = broker_only(events(n, f"{run}-b"))
            insert = baseline(fresh_store("mariadb", Path(tmp), made), rows)
            rate = stomp_pipeline(fresh_store("mariadb", Path(tmp), made), lines)
    finally:
        _drop(made)
    slower = min(broker, insert)
    print(
        f"stomp: pipeline {rate:.0f}/s; broker alone {broker:.0f} msg/s; executemany {insert:.0f} rows/s",
        file=sys.stderr,
    )
    return {
        "bench": "scale",
        "figure": "stomp",
        "events_per_s": round(rate),
        "baseline_per_s": round(slower),
        "ratio": round(rate / slower, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per measurement")
    args = parser.parse_args()
    print(json.dumps(ingest_figure(args.events)), flush=True)
    print(json.dumps(stomp_figure(args.events)), flush=True)


if __name__ == "__main__":
    main()
