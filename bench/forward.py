"""Forwarding throughput and its cost to ingest.

1. `forward`: alerts/s of a forwarder (GELF TCP; Elasticsearch `_bulk` through the official
   client) draining a SQLite store of real recorded alerts, from cursor to receiver, with
   `alertflow forward`'s default render processes (started before the clock), against the
   same bytes pre-serialized before the clock (the forwarder's own encoder, window by window)
   and written with a bare socket (GELF) or a bare keep-alive HTTP POST per window (`_bulk`),
   in the same run, to the same receiver. Each receiver is a process of its own that decodes
   every message (a GELF input splitting on NUL, the test suite's `_bulk` server with its
   per-item answers) and counts the distinct alert uuids, so a run is only measured when
   every alert arrived.
   {"bench": "forward", "target": "gelf_tcp"|"elasticsearch", "alerts_per_s", "bare_alerts_per_s", "ratio"}
2. `forward_ingest`: the ingest worker reading a file into SQLite with one forwarder (GELF TCP,
   its own process with `alertflow forward`'s defaults: nice 10, two render processes) on,
   against plain executemany of the same rows (bench/ingest_worker.py's baseline); then the
   worker fed at 5,000 events/s with the forwarder on (fed once the forwarder is up), and the
   p99 of (arrival at the receiver minus the alert's time_collr).
   {"bench": "forward_ingest", "ratio", "lag_p99_s"}
`--quick` uses fewer alerts. Figures are the best of a few rounds (slow rounds measure neighbours).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

# `python bench/forward.py` runs with bench/ first on the path: bench.* and tests.* need the root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alertflow.cli.forward import FORWARD_NICE
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.forwarding import newest_alert_id
from alertmodel.repository import insert_alerts
from bench.ingest_worker import BATCH, baseline, events, file_pipeline, fresh_store
from blocks.forwarders import ElasticsearchForwarder, GelfForwarder
from ingest.core import IngestCore
from ingest.sources.file import FileSource
from ingest.worker import Worker
from tasks.forward.loop import ForwardLoop, render_spec
from tasks.forward.render import Encoder
from tests.forward_receivers import BulkServer, free_port

FORWARD_BATCH = 2000
RENDER_PROCESSES = 2  # `alertflow forward`'s default


# -- receivers (each in its own process) -------------------------------------------------------


def gelf_receiver(port: int, ready: Any, count: Any, stop: Any, arrivals: Any) -> None:
    """A GELF TCP input: split on NUL, decode each message, count distinct alert uuids.

    With `arrivals` set, the arrival time of each uuid is sent back when stopped (lag).
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)
    listener.settimeout(0.2)
    ready.set()
    seen: dict[str, float] = {}
    lock = threading.Lock()

    def read(conn: socket.socket) -> None:
        pending = b""
        conn.settimeout(0.2)
        while not stop.is_set():
            try:
                data = conn.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            *frames, pending = (pending + data).split(b"\0")
            now = time.time()
            with lock:
                for frame in frames:
                    seen.setdefault(orjson.loads(frame)["_alert_uuid"], now)
                count.value = len(seen)

    threads = []
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        thread = threading.Thread(target=read, args=(conn,), daemon=True)
        thread.start()
        threads.append(thread)
    if arrivals is not None:
        arrivals.send(seen)


def bulk_receiver(port: int, ready: Any, count: Any, stop: Any) -> None:
    """The test suite's `_bulk` server (per-item answers, product header); counts the items it answered.

    Real recorded alerts of several sources clash in one index's dynamic mapping (Wazuh's
    `rule` is an object, Falco's a string), so some items are answered 400, as Elasticsearch
    would: an answered item, indexed or refused, is an alert delivered.
    """
    server = BulkServer(port=port)
    server.keep = False
    server.start()
    ready.set()
    while not stop.wait(0.05):
        with server.lock:
            count.value = server.answered
    server.stop()


class Receiver:
    """A receiver process and its shared count."""

    def __init__(self, target: Any, arrivals: bool = False) -> None:
        self.port = free_port()
        self.ready, self.stop_event = mp.Event(), mp.Event()
        self.count = mp.Value("q", 0, lock=False)
        self.pipe = mp.Pipe(duplex=False) if arrivals else None
        args = [self.port, self.ready, self.count, self.stop_event]
        if target is gelf_receiver:
            args.append(self.pipe[1] if self.pipe else None)
        self.process = mp.Process(target=target, args=tuple(args), daemon=True)
        self.process.start()
        if not self.ready.wait(30):
            raise SystemExit("receiver did not start")

    def wait_for(self, n: int, timeout_s: float = 300) -> float:
        """Block until `n` distinct alerts arrived; the time it happened (perf_counter)."""
        deadline = time.monotonic() + timeout_s
        while self.count.value < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.count.value} of {n} alerts arrived")
            time.sleep(0.0005)
        return time.perf_counter()

    def close(self) -> dict[str, float] | None:
        self.stop_event.set()
        seen = self.pipe[0].recv() if self.pipe else None
        self.process.join(10)
        return seen


# -- forward throughput --------------------------------------------------------------------------


def store_of(rows: list[dict], scratch: Path) -> str:
    url = f"sqlite:///{scratch / f'fwd-{uuid.uuid4().hex[:8]}.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    for i in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            insert_alerts(conn, rows[i : i + BATCH])
    engine.dispose()
    return url


def forwarded(url: str, block: Any, target: Any, n: int) -> float:
    """Alerts/s of a ForwardLoop draining the store into a fresh receiver."""
    receiver = Receiver(target)
    engine = make_engine(url)
    try:
        block = block.model_copy(
            update={"port": receiver.port}
            if hasattr(block, "port")
            else {"url": f"http://127.0.0.1:{receiver.port}"}
        )
        loop = ForwardLoop(engine, f"bench-{uuid.uuid4().hex[:6]}", block, processes=RENDER_PROCESSES)
        loop.prepare()  # the render processes start before the clock, as in a running forwarder
        started = time.perf_counter()
        loop.drain()
        done = receiver.wait_for(n)
        loop.close()
        return n / (done - started)
    finally:
        receiver.close()
        engine.dispose()


def payloads(url: str, block: Any, n: int) -> list[bytes]:
    """The bytes the forwarder sends, window by window, encoded once before the bare clock."""
    engine = make_engine(url)
    encoder = Encoder(render_spec(block))
    out: list[bytes] = []
    with engine.connect() as conn:
        top = newest_alert_id(conn)
        for after in range(0, top, block.batch_size):
            out.append(encoder.window(conn, after, min(top, after + block.batch_size)).wire)
    engine.dispose()
    assert len(out) >= n // block.batch_size
    return out


def bare_socket(batches: list[bytes], n: int) -> float:
    receiver = Receiver(gelf_receiver)
    try:
        sock = socket.create_connection(("127.0.0.1", receiver.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for batch in batches:
            sock.sendall(batch)
        done = receiver.wait_for(n)
        sock.close()
        return n / (done - started)
    finally:
        receiver.close()


def bare_http(batches: list[bytes], n: int) -> float:
    receiver = Receiver(bulk_receiver)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port)
        headers = {"Content-Type": "application/x-ndjson"}
        started = time.perf_counter()
        for batch in batches:
            conn.request("POST", "/_bulk", body=batch, headers=headers)
            conn.getresponse().read()
        done = receiver.wait_for(n)
        conn.close()
        return n / (done - started)
    finally:
        receiver.close()


# -- ingest with a forwarder on ------------------------------------------------------------------


def forward_process(url: str, port: int, stop: Any, poll_s: float, ready: Any) -> None:
    """`alertflow forward` for one GELF TCP forwarder, as its own process, with its default nice value
    and render processes."""
    os.nice(FORWARD_NICE)
    engine = make_engine(url)
    block = GelfForwarder(host="127.0.0.1", port=port, backfill=True, batch_size=FORWARD_BATCH)
    loop = ForwardLoop(engine, "bench", block, processes=RENDER_PROCESSES)
    stopping = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), stopping.set()), daemon=True).start()
    loop.prepare()  # a running `alertflow forward` has its render processes up
    ready.set()
    try:
        loop.run(stopping, poll_s=poll_s)
    finally:
        loop.close()


def ingest_with_forwarder(url: str, path: Path, n: int) -> float:
    receiver = Receiver(gelf_receiver)
    stop = mp.Event()
    ready = mp.Event()
    forwarder = mp.Process(target=forward_process, args=(url, receiver.port, stop, 0.1, ready))
    forwarder.start()  # not a daemon: it starts render processes
    if not ready.wait(60):
        raise SystemExit("the forwarder did not start")
    try:
        rate = file_pipeline(url, path, n)
        receiver.wait_for(n)
        return rate
    finally:
        stop.set()
        forwarder.join(30)
        receiver.close()


def lag_p99(scratch: Path, lines: list[bytes], rate: float) -> float:
    """p99 seconds from an alert's time_collr to its arrival, the worker fed `rate` events/s."""
    url = fresh_store("sqlite", scratch, [])
    path = scratch / f"paced-{uuid.uuid4().hex[:6]}.jsonl"
    path.write_bytes(b"")
    receiver = Receiver(gelf_receiver, arrivals=True)
    stop = mp.Event()
    ready = mp.Event()
    forwarder = mp.Process(target=forward_process, args=(url, receiver.port, stop, 0.1, ready))
    forwarder.start()  # not a daemon: it starts render processes
    if not ready.wait(60):
        raise SystemExit("the forwarder did not start")
    engine = make_engine(url)
    worker = Worker(
        engine, IngestCore(), [FileSource(path, follow=True)], batch_size=BATCH, batch_wait_s=0.05
    )
    worker.start()
    try:
        step = 0.05
        per_step = int(rate * step)
        started = time.perf_counter()
        with path.open("ab") as out:
            for i in range(0, len(lines), per_step):
                out.write(b"".join(line + b"\n" for line in lines[i : i + per_step]))
                out.flush()
                wake = started + (i // per_step + 1) * step
                time.sleep(max(0.0, wake - time.perf_counter()))
        receiver.wait_for(len(lines), 120)
    finally:
        worker.request_stop()
        worker.wait(60)
        stop.set()
        forwarder.join(30)
        seen = receiver.close() or {}
    with engine.connect() as conn:
        from sqlalchemy import select

        from alertmodel import Alert

        collected = dict(
            conn.execute(select(Alert.__table__.c.alert_uuid, Alert.__table__.c.time_collr)).all()
        )
    engine.dispose()
    lags = sorted(seen[u] - t.timestamp() for u, t in collected.items() if u in seen)
    assert len(lags) == len(lines), (len(lags), len(lines))
    return lags[int(0.99 * (len(lags) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer alerts, about a minute")
    args = parser.parse_args()
    n = 20_000 if args.quick else 50_000
    n_ingest = 20_000 if args.quick else 50_000
    n_lag = 10_000 if args.quick else 30_000
    rounds = 2 if args.quick else 3
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-") as tmp:
        scratch = Path(tmp)
        rows = IngestCore().process(events(n, run)).alerts
        url = store_of(rows, scratch)
        targets = {
            "gelf_tcp": (
                GelfForwarder(host="127.0.0.1", backfill=True, batch_size=FORWARD_BATCH),
                gelf_receiver,
                bare_socket,
            ),
            "elasticsearch": (
                ElasticsearchForwarder(url="http://127.0.0.1:9", backfill=True, batch_size=FORWARD_BATCH),
                bulk_receiver,
                bare_http,
            ),
        }
        for target, (block, receiver, bare) in targets.items():
            batches = payloads(url, block, n)
            print(
                f"{target}: {len(batches)} batches, {sum(map(len, batches)) / n:.0f} bytes/alert",
                file=sys.stderr,
            )
            rate = max(forwarded(url, block, receiver, n) for _ in range(rounds))
            bare_rate = max(bare(batches, n) for _ in range(rounds))
            line = {
                "bench": "forward",
                "target": target,
                "alerts_per_s": round(rate),
                "bare_alerts_per_s": round(bare_rate),
                "ratio": round(rate / bare_rate, 3),
            }
            print(json.dumps(line), flush=True)

        lines = events(n_ingest, run + "i")
        path = scratch / "events.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        ingest_rows = IngestCore().process(lines).alerts
        plain = max(baseline(fresh_store("sqlite", scratch, []), ingest_rows) for _ in range(rounds))
        with_forwarder = max(
            ingest_with_forwarder(fresh_store("sqlite", scratch, []), path, n_ingest) for _ in range(rounds)
        )
        alone = max(file_pipeline(fresh_store("sqlite", scratch, []), path, n_ingest) for _ in range(rounds))
        print(
            f"ingest: executemany {plain:.0f}/s, worker alone {alone:.0f}/s ({alone / plain:.3f}), "
            f"worker with a forwarder on {with_forwarder:.0f}/s",
            file=sys.stderr,
        )
        lag = lag_p99(scratch, events(n_lag, run + "l"), 5000.0)
        print(
            json.dumps(
                {
                    "bench": "forward_ingest",
                    "ratio": round(with_forwarder / plain, 3),
                    "lag_p99_s": round(lag, 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
