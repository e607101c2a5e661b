"""Scrape of a running ingest worker's /metrics vs. a bare GET of a trivial path on the same server.

A real `alertflow ingest --metrics-port` process (SQLite store in a temporary directory) first
stores a mixed file of events (Suricata, Wazuh, Falco, ModSecurity samples made distinct, and
malformed lines), so every counter family has the label sets a running node has; then the
bench GETs `/metrics` and, interleaved, `/favicon.ico` of the same prometheus_client server
(an empty 200: the server's own cost) over one keep-alive-free HTTP connection each, as
Prometheus does per scrape.

Prints {"bench": "metrics_scrape", "p50_ms", "p99_ms", "baseline_p50_ms", "ratio", "bytes",
"samples", "scrapes"}; ratio = p50 / baseline_p50. Goal: p50 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "fixtures" / "samples"
FILES = [
    "suricata/eve-7.0.10-alerts.json",
    "wazuh/wazuh-indexer-sample-alerts-fim-rootcheck.json",
    "wazuh/wazuh-indexer-sample-alerts-ciscat.json",
    "falco/elastic-falco_alerts-test-falco.log",
    "modsecurity/elastic-modsec-audit-tz.log",
    "malformed/bad-lines.jsonl",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events(copies: int) -> bytes:
    """The samples `copies` times, each line made distinct by a leading key (malformed lines stay so)."""
    out = []
    for n in range(copies):
        for name in FILES:
            for line in (SAMPLES / name).read_bytes().splitlines():
                line = line.strip()
                if not line:
                    continue
                if line.startswith(b"{") and not name.startswith("malformed"):
                    line = b'{"bench_copy":' + str(n).encode() + b"," + line[1:]
                out.append(line)
    return b"\n".join(out) + b"\n"


def get(port: int, path: str) -> tuple[float, bytes]:
    """Seconds for one GET on a fresh connection, and the body."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return elapsed, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--copies", type=int, default=20, help="times the sample files are fed in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-metrics-") as tmp:
        directory = Path(tmp)
        url = f"sqlite:///{directory / 'alertflow.db'}"
        env = {
            **os.environ,
            "ALERTFLOW_DATABASE_URL": url,
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": str(REPO),
        }
        subprocess.run(
            [sys.executable, "-m", "alertflow", "db", "upgrade"], env=env, check=True, capture_output=True
        )
        feed = directory / "events.json"
        feed.write_bytes(events(args.copies))
        port = free_port()
        log = (directory / "worker.log").open("wb")
        command = [sys.executable, "-m", "alertflow", "ingest", "--no-dispatch", "--source", f"file:{feed}"]
        worker = subprocess.Popen(
            [*command, "--metrics-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            read = _wait_until_read(port, feed.read_bytes().count(b"\n"))
            _, body = get(port, "/metrics")
            samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            for _ in range(20):  # warm up both paths
                get(port, "/metrics")
                get(port, "/favicon.ico")
            scrape, baseline = [], []
            for _ in range(args.scrapes):
                scrape.append(get(port, "/metrics")[0])
                baseline.append(get(port, "/favicon.ico")[0])
        finally:
            worker.terminate()
            worker.wait(60)
            log.close()
    p50 = statistics.median(scrape) * 1000
    base = statistics.median(baseline) * 1000
    print(
        json.dumps(
            {
                "bench": "metrics_scrape",
                "p50_ms": round(p50, 3),
                "p99_ms": round(statistics.quantiles(scrape, n=100)[98] * 1000, 3),
                "baseline_p50_ms": round(base, 3),
                "ratio": round(p50 / base, 2),
                "bytes": len(body),
                "samples": samples,
                "events_read": read,
                "scrapes": args.scrapes,
            }
        )
    )


def _wait_until_read(port: int, lines: int, timeout_s: float = 300) -> int:
    """Wait until the worker has counted every non-blank line of the feed as received."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, body = get(port, "/metrics")
            read = sum(
                float(line.rsplit(b" ", 1)[1])
                for line in body.splitlines()
                if line.startswith(b"alertflow_ingest_events_received_total{")
            )
            if read >= lines:
                return int(read)
        except (OSError, RuntimeError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not read the feed in time")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
