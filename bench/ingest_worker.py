"""End-to-end throughput of the ingest worker (file or STOMP → decode → policy → one transaction per batch).

For each database (SQLite WAL; MariaDB at 127.0.0.1:3306) the baseline inserts the very rows
the pipeline stores — computed beforehand by the same IngestCore — with a plain DB-API
`executemany` in batches of 1,000 into a fresh, migrated store (same 8 indexes). The pipeline
then reads the same events from a file, and from an ActiveMQ queue (one event per message,
published before the clock starts), into another fresh store. Events are real recorded alerts
(Wazuh, Suricata, Falco) made unique by a tag. Prints one JSON line per case:
  {"bench": "ingest_worker", "source": "file|stomp", "db": "sqlite|mariadb", "events_per_s", ...}
and {"bench": "ingest_worker_rss", "events": N, "rss_mb": ...}: memory of an `alertflow ingest-file`
process and its decode process after N events (1,000,000; --quick 50,000) as the sum of their
proportional set sizes (the child is forked: plain RSS would count every shared page twice;
that upper bound is `rss_sum_max_mb`), sampled every half second; `rss_max_mb` is the peak,
and the samples go to stderr so flatness can be checked.
`--quick` (< 1 minute on an idle 2-core machine) uses fewer events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pymysql
import stomp
from sqlalchemy import func, select

from alertmodel import ALERT_COLUMNS, Alert, migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.file import FileSource
from ingest.sources.stomp import StompSource
from ingest.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "samples"
BATCH = 1000
MARIADB = ("127.0.0.1", 3306)
STOMP = ("127.0.0.1", 61613)
# ActiveMQ pages a queue's persistent messages to a consumer 200 at a time (its default
# maxPageSize), whatever the prefetch: a consumer acking less often than that waits for ever.
ACK_EVERY = 100


def alert_lines() -> list[bytes]:
    """Recorded sample lines that each make exactly one alert."""
    core = IngestCore()
    lines = []
    for source in ("wazuh", "suricata", "falco"):
        for path in sorted((SAMPLES / source).iterdir()):
            for line in path.read_bytes().splitlines():
                if line.strip() and len(core.process([line]).alerts) == 1:
                    lines.append(line)
    return lines


def events(n: int, run: str) -> list[bytes]:
    """`n` distinct events: the samples cycled, each tagged so its alert_uuid is new."""
    base = alert_lines()
    return [b'{"bench":"' + f"{run}-{i}".encode() + b'",' + base[i % len(base)][1:] for i in range(n)]


def fresh_store(db: str, scratch: Path, made: list[str]) -> str:
    """A new, migrated alert store URL of kind `db`."""
    if db == "sqlite":
        url = f"sqlite:///{scratch / f'{uuid.uuid4().hex[:8]}.db'}"
    else:
        name = f"alertflow_bench_{uuid.uuid4().hex[:10]}"
        with pymysql.connect(host=MARIADB[0], port=MARIADB[1], user="root", password="") as conn:
            conn.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        made.append(name)
        url = f"mysql+pymysql://root@{MARIADB[0]}:{MARIADB[1]}/{name}"
    migrate.upgrade(url)
    return url


def baseline(url: str, rows: list[dict]) -> float:
    """Rows/s of plain executemany INSERTs of `rows`, 1,000 per transaction."""
    engine = make_engine(url)
    with engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO alert ({', '.join(quote(c) for c in ALERT_COLUMNS)}) VALUES ({', '.join(mark for _ in ALERT_COLUMNS)})"  # noqa: S608
    tuples = [
        tuple(
            r[c].astimezone(UTC).replace(tzinfo=None) if isinstance(r[c], datetime) else r[c]
            for c in ALERT_COLUMNS
        )
        for r in rows
    ]
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        for i in range(0, len(tuples), BATCH):
            cur = raw.cursor()
            cur.executemany(sql, tuples[i : i + BATCH])
            cur.close()
            raw.commit()
        elapsed = time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
    return len(tuples) / elapsed


def stored(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Alert.__table__)).scalar_one())


def file_pipeline(url: str, path: Path, n: int) -> float:
    """Events/s from a file through the whole worker until the last batch committed."""
    engine = make_engine(url)
    worker = Worker(
        engine, IngestCore(), [FileSource(path, follow=False)], batch_size=BATCH, batch_wait_s=0.05
    )
    started = time.perf_counter()
    worker.run()
    elapsed = time.perf_counter() - started
    assert worker.stats.stored == n and stored(engine) == n, (worker.stats, n)
    print(
        f"  file -> {engine.dialect.name}: {elapsed:.2f} s; decode thread busy "
        f"{worker.stats.decode_seconds:.2f} s, write thread busy {worker.stats.write_seconds:.2f} s",
        file=sys.stderr,
    )
    engine.dispose()
    return n / elapsed


def fill_queue(lines: list[bytes]) -> str:
    """A fresh ActiveMQ queue holding `lines` as persistent messages; its name."""
    queue = f"/queue/alertflow-bench-{uuid.uuid4().hex[:10]}"
    pub = stomp.Connection12([STOMP])
    pub.connect(wait=True)
    for line in lines:
        pub.send(queue, line, headers={"persistent": "true"})
    pub.disconnect(receipt="done")
    return queue


def stomp_pipeline(url: str, lines: list[bytes]) -> float:
    """Events/s from an ActiveMQ queue (filled beforehand) through the worker, until all are stored."""
    queue = fill_queue(lines)
    engine = make_engine(url)
    source = StompSource(*STOMP, queue, prefetch=2 * BATCH)
    worker = Worker(engine, IngestCore(), [source], batch_size=BATCH, batch_wait_s=0.05)
    started = time.perf_counter()
    worker.start()
    while worker.stats.stored < len(lines):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    worker.request_stop()
    worker.wait(60)
    engine.dispose()
    return len(lines) / elapsed


def rss_run(n: int, scratch: Path) -> dict:
    """RSS of `alertflow ingest-file` over `n` events (file written in a stream, not held in memory)."""
    path = scratch / "rss.jsonl"
    base = alert_lines()
    with path.open("wb") as fh:
        for i in range(n):
            fh.write(b'{"bench":"rss-' + str(i).encode() + b'",' + base[i % len(base)][1:] + b"\n")
    url = fresh_store("sqlite", scratch, [])
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "alertflow"), "ingest-file", str(path)],
        env={**os.environ, "ALERTFLOW_DATABASE_URL": url, "ALERTFLOW_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []
    rss_sums: list[float] = []
    last = 0.0
    while proc.poll() is None:
        try:  # the worker and its (forked) decode process share pages: PSS counts each page once
            tree = [ps, *ps.children(recursive=True)]
            last = sum(p.memory_full_info().pss for p in tree) / 2**20
            rss_sum = sum(p.memory_info().rss for p in tree) / 2**20
        except psutil.NoSuchProcess:
            break
        samples.append((time.monotonic(), last))
        rss_sums.append(rss_sum)
        time.sleep(0.5)
    if proc.returncode != 0:
        raise SystemExit(f"ingest-file exited {proc.returncode}")
    engine = make_engine(url)
    assert stored(engine) == n
    engine.dispose()
    path.unlink()
    print(f"rss samples (MB, every 0.5 s): {[round(s[1]) for s in samples]}", file=sys.stderr)
    tenth = samples[len(samples) // 10][1] if samples else last
    print(
        f"rss after ~10% of the run: {tenth:.1f} MB; max {max(s[1] for s in samples):.1f} MB", file=sys.stderr
    )
    peak = max((s[1] for s in samples), default=last)
    return {
        "bench": "ingest_worker_rss",
        "events": n,
        "rss_mb": round(last, 1),
        "rss_max_mb": round(peak, 1),
        "rss_sum_max_mb": round(max(rss_sums, default=0.0), 1),
    }


def broker_only(lines: list[bytes], ack_mode: str = "client") -> float:
    """Messages/s a bare stomp.py consumer receives and acks from a filled queue: the broker's ceiling.

    Acked as the STOMP source acks (`ingest.sources.stomp`): with `client` (its default),
    cumulatively, here once per ACK_EVERY messages and for the last; with `client-individual`,
    each message.
    """
    queue = fill_queue(lines)
    got = 0
    done = threading.Event()
    conn = stomp.Connection12([STOMP], auto_decode=False)
    every = ACK_EVERY if ack_mode == "client" else 1

    class Acker(stomp.ConnectionListener):
        def on_message(self, frame) -> None:  # type: ignore[no-untyped-def]
            nonlocal got
            got += 1
            if got % every == 0 or got == len(lines):
                conn.ack(frame.headers["ack"])
            if got == len(lines):
                done.set()

    conn.set_listener("", Acker())
    started = time.perf_counter()
    conn.connect(wait=True)
    conn.subscribe(queue, id="1", ack=ack_mode, headers={"activemq.prefetchSize": str(2 * BATCH)})
    done.wait(600)
    elapsed = time.perf_counter() - started
    conn.disconnect()
    return len(lines) / elapsed


def best(measure, rounds: int) -> float:  # type: ignore[no-untyped-def]
    """The best of `rounds` runs: on a shared machine the slow runs measure the neighbours."""
    return max(measure() for _ in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events, under a minute")
    args = parser.parse_args()
    n_file = 10_000 if args.quick else 50_000
    n_stomp = 3_000 if args.quick else 20_000
    n_rss = 50_000 if args.quick else 1_000_000
    rounds = 2 if args.quick else 3
    run = uuid.uuid4().hex[:8]
    made: list[str] = []
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-") as tmp:
        scratch = Path(tmp)
        lines = events(n_file, run)
        path = scratch / "events.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        rows = IngestCore().process(lines).alerts
        stomp_lines = events(n_stomp, run + "s")
        print(
            f"{len(lines)} events, mean {sum(map(len, lines)) / len(lines):.0f} bytes (json_event is the line); "
            f"best of {rounds} alternating runs per figure",
            file=sys.stderr,
        )
        print(
            f"broker alone (receive + ack, no database): {broker_only(stomp_lines):.0f} msg/s",
            file=sys.stderr,
        )
        try:
            for db in ("sqlite", "mariadb"):
                base_runs: list[float] = []
                file_runs: list[float] = []
                for _ in range(rounds):  # alternate, so load from neighbours hits both sides alike
                    base_runs.append(baseline(fresh_store(db, scratch, made), rows))
                    file_runs.append(file_pipeline(fresh_store(db, scratch, made), path, len(lines)))
                base = max(base_runs)
                stomp_rate = best(
                    lambda db=db: stomp_pipeline(fresh_store(db, scratch, made), stomp_lines), rounds
                )
                for source, rate in (("file", max(file_runs)), ("stomp", stomp_rate)):
                    print(
                        json.dumps(
                            {
                                "bench": "ingest_worker",
                                "source": source,
                                "db": db,
                                "events_per_s": round(rate),
                                "baseline_events_per_s": round(base),
                                "ratio": round(rate / base, 3),
                            }
                        ),
                        flush=True,
                    )
                _drop(made)
        finally:
            _drop(made)
        print(json.dumps(rss_run(n_rss, scratch)), flush=True)


def _drop(made: list[str]) -> None:
    if not made:
        return
    with pymysql.connect(host=MARIADB[0], port=MARIADB[1], user="root", password="") as conn:
        for name in made:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    made.clear()


if __name__ == "__main__":
    main()
