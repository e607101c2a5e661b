"""Soak: `alertflow up` under a steady mixed stream for N minutes, sampled every 10 s.

The stream is the real samples of all four sources (Wazuh, Suricata, Falco, ModSecurity), each
event tagged so its alert is new, posted to up's `/ingest` in batches every 100 ms at `--rate`
alerts/s. A share of them (`--match-share`, 2%) are Suricata alerts of a rule that a response
profile answers with `block-attacker/always` (grouped by srcip, so each attacker address makes
exactly one flow run): the playbook really runs, adding the address to an IdsSensor's list on a
loopback sshd host. Every 10 s the sampler records the RSS of every long-lived process, alert →
flow run latency (the first alert of an address posted → its flow run created, as Prefect
stored it), outbox depth and oldest age, the sizes of the alert store and of Prefect's
database, dead letters and ERROR/Traceback lines in the logs.

Writes `samples.csv` and `soak.png` into `--out`, and prints {"bench": "soak", "minutes",
"alerts_sent", "alerts_stored", "duplicates", "runs_expected", "runs" (completed), "runs_not_completed", "rss_growth",
"p99_ms_worst_window", "send_rate", "errors_in_logs", "dead_letters"}. rss_growth is the worst
process's mean RSS over the last 10 minutes / minutes 10-20 (runs shorter than 30 minutes:
last third / middle third); `send_rate` is what was really posted per second, the baseline the
other figures stand on.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from support.stack import REPO, Up, save_sensor_block, ssh_host  # noqa: E402

from ingest.core import IngestCore  # noqa: E402

SAMPLES = REPO / "tests" / "fixtures" / "samples"
SID = 9000101
DEPLOYMENT = "block-attacker/always"
PROFILES = f"""\
response_profiles:
  - name: soak-block
    match: {{source: Suricata, event: "{SID}"}}
    group: {{key: srcip, window_seconds: 86400}}
    actions:
      - {{kind: playbook, deployment: {DEPLOYMENT}}}
"""
ATTACKERS = [f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113") for host in range(1, 255)]
"""Documentation addresses: public to the sensor's own_networks check, and never routed."""
SAMPLE_EVERY_S = 10
RECENT_RUNS_MARGIN = timedelta(minutes=2)  # a sample re-reads runs this far before the newest seen
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def templates() -> list[bytes]:
    """Sample lines of the four sources that each make exactly one alert."""
    core = IngestCore()
    lines = []
    for source in ("wazuh", "suricata", "falco", "modsecurity"):
        for path in sorted((SAMPLES / source).iterdir()):
            for line in path.read_bytes().splitlines():
                if line.strip().startswith(b"{") and len(core.process([line]).alerts) == 1:
                    lines.append(line)
    return lines


def matching_event(n: int, srcip: str) -> bytes:
    event = {
        "timestamp": "2026-11-30T12:00:00.000000+0000",
        "flow_id": 10_000_000 + n,
        "event_type": "alert",
        "src_ip": srcip,
        "src_port": 40000 + n % 20000,
        "dest_ip": "198.51.100.20",
        "dest_port": 80,
        "proto": "TCP",
        "soak": n,
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": SID,
            "rev": 1,
            "signature": "ALERTFLOW sqlmap user agent",
            "category": "Web Application Attack",
            "severity": 1,
        },
    }
    return json.dumps(event).encode()


class Sender(threading.Thread):
    """Posts `rate` alerts/s in ten batches a second until stopped; remembers each attacker's first post."""

    def __init__(self, up: Up, rate: int, match_share: float, new_attacker_every: int, run: str) -> None:
        super().__init__(daemon=True)
        self.up, self.rate, self.run_tag = up, rate, run
        self.match_every = max(1, round(1 / match_share)) if match_share > 0 else 0
        self.new_attacker_every = new_attacker_every
        self.templates = templates()
        self.stop_event = threading.Event()
        self.sent = 0
        self.matching = 0
        self.first_post: dict[str, float] = {}
        self.retries = 0

    def _event(self, i: int, new_attackers: list[str]) -> bytes:
        if self.match_every and i % self.match_every == 0:
            srcip = ATTACKERS[min(self.matching // self.new_attacker_every, len(ATTACKERS) - 1)]
            self.matching += 1
            if srcip not in self.first_post and srcip not in new_attackers:
                new_attackers.append(srcip)
            return matching_event(i, srcip)
        base = self.templates[i % len(self.templates)]
        return b'{"soak":"' + f"{self.run_tag}-{i}".encode() + b'",' + base[1:]

    def run(self) -> None:
        counter = itertools.count()
        per_tick = max(1, self.rate // 10)
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            new_attackers: list[str] = []
            body = b"\n".join(self._event(next(counter), new_attackers) for _ in range(per_tick)) + b"\n"
            while not self.stop_event.is_set():
                posted_at = time.time()
                try:
                    response = self.up.ingest.post("/ingest", content=body)
                    if response.status_code == 202:
                        break
                except httpx.HTTPError:
                    pass
                self.retries += 1  # a refused batch is sent again; stored alerts are deduplicated by uuid
                time.sleep(0.2)
            else:
                return
            for srcip in new_attackers:  # the clock of an attacker's first alert starts when it is posted
                self.first_post[srcip] = posted_at
            self.sent += per_tick
            next_tick += 0.1
            time.sleep(max(0.0, next_tick - time.monotonic()))


def _role(process: psutil.Process) -> str | None:
    """A long-lived process's role from its command line (flow-run subprocesses come and go: None)."""
    try:
        line = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    for needle, role in (
        ("alertflow up", "up"),
        ("alertflow ingest", "ingest"),
        ("alertflow api", "api"),
        ("deployments.serve", "serve"),
        ("prefect server", "prefect"),
        ("prefect_sqlite_server", "prefect"),
        ("prefect.server", "prefect"),
        ("uvicorn", "prefect"),
        ("decode_process", "decode"),
        ("multiprocessing", "decode"),
    ):
        if needle in line:
            return role
    return None


def rss_by_role(root: psutil.Process) -> dict[str, float]:
    found: dict[str, float] = defaultdict(float)
    for process in [root, *root.children(recursive=True)]:
        role = _role(process)
        if role is None:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            found[role] += process.memory_info().rss / 1e6
    return dict(found)


def _scalar(up: Up, sql: str) -> float:
    import sqlite3

    with sqlite3.connect(f"file:{up.data / 'alertflow.db'}?mode=ro", uri=True, timeout=30) as conn:
        value = conn.execute(sql).fetchone()[0]
    return float(value or 0)


def _size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


def _log_errors(up: Up) -> int:
    count = 0
    for path in [up.log, *(up.data / "logs").glob("*.log")]:
        if path.exists():
            with path.open("rb") as f:
                count += sum(1 for line in f if b" ERROR " in line or b"Traceback" in line)
    return count


class Sampler:
    def __init__(self, up: Up, sender: Sender, deployment_id: str) -> None:
        self.up, self.sender, self.deployment_id = up, sender, deployment_id
        self.root = psutil.Process(up.process.pid)
        self.rows: list[dict[str, Any]] = []
        self.latency_ms: list[tuple[float, float]] = []  # (elapsed s, ms)
        self.seen_runs: set[str] = set()
        self.newest: datetime | None = None  # the latest expected start of a run seen so far
        self.started = time.monotonic()

    def flow_runs(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """The deployment's runs, or only those expected to start after `since` (each sample's
        share: listing every run every 10 s made Prefect's server serialize an ever longer
        answer, which stalled it for seconds and grew its memory with the run count)."""
        runs, offset = [], 0
        while True:
            body: dict[str, Any] = {
                "deployments": {"id": {"any_": [self.deployment_id]}},
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": 200,
                "offset": offset,
            }
            if since is not None:
                body["flow_runs"] = {"expected_start_time": {"after_": since.isoformat()}}
            page = self.up.prefect.post("/flow_runs/filter", json=body).json()
            runs += page
            if len(page) < 200:
                return runs
            offset += 200

    def sample(self) -> None:
        elapsed = time.monotonic() - self.started
        window: list[float] = []
        since = self.newest - RECENT_RUNS_MARGIN if self.newest is not None else None
        for run in self.flow_runs(since):
            if run.get("expected_start_time"):
                expected = datetime.fromisoformat(run["expected_start_time"])
                self.newest = max(self.newest or expected, expected)
            if run["id"] in self.seen_runs:
                continue
            srcip = run["parameters"]["alert"]["srcip"]
            posted = self.sender.first_post.get(srcip)
            if posted is None:
                continue
            self.seen_runs.add(run["id"])
            ms = (datetime.fromisoformat(run["created"]).timestamp() - posted) * 1000
            window.append(ms)
            self.latency_ms.append((elapsed, ms))
        row: dict[str, Any] = {
            "elapsed_s": round(elapsed, 1),
            "sent": self.sender.sent,
            "stored": _scalar(self.up, "SELECT COUNT(*) FROM alert"),
            "outbox_open": _scalar(self.up, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"),
            "outbox_oldest_s": _scalar(
                self.up,
                "SELECT COALESCE((julianday('now') - julianday(MIN(created_at))) * 86400, 0) "
                "FROM outbox WHERE state = 'pending'",
            ),
            "dead_letters": _scalar(self.up, "SELECT COUNT(*) FROM dead_letter"),
            "store_mb": round(_size_mb(list(self.up.data.glob("alertflow.db*"))), 1),
            "prefect_db_mb": round(_size_mb(list((self.up.data / "prefect").glob("*.db*"))), 1),
            "errors_in_logs": _log_errors(self.up),
            "runs_new": len(window),
            "latency_p99_ms": round(_p99(window), 1) if window else "",
        }
        for role, mb in sorted(rss_by_role(self.root).items()):
            row[f"rss_{role}_mb"] = round(mb, 1)
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def rss_growth(rows: list[dict[str, Any]], minutes: float) -> float:
    roles = {k for row in rows for k in row if k.startswith("rss_")}
    worst = 0.0
    for role in roles:
        series = [(r["elapsed_s"], r[role]) for r in rows if role in r]
        if minutes >= 30:
            base = [v for t, v in series if 600 <= t < 1200]
            last = [v for t, v in series if t >= series[-1][0] - 600]
        else:
            third = len(series) // 3
            base, last = [v for _, v in series[third : 2 * third]], [v for _, v in series[2 * third :]]
        if base and last:
            worst = max(worst, statistics.mean(last) / statistics.mean(base))
    return round(worst, 3)


def worst_window_p99(latencies: list[tuple[float, float]]) -> float | None:
    windows: dict[int, list[float]] = defaultdict(list)
    for elapsed, ms in latencies:
        windows[int(elapsed // 600)].append(ms)
    return round(max(_p99(v) for v in windows.values()), 1) if windows else None


def plot(rows: list[dict[str, Any]], latencies: list[tuple[float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["elapsed_s"] / 60 for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    for key in sorted({k for r in rows for k in r if k.startswith("rss_")}):
        axes[0][0].plot(minutes, [r.get(key, float("nan")) for r in rows], label=key[4:-3])
    axes[0][0].set_title("RSS (MB)")
    axes[0][0].legend(fontsize="small")
    axes[0][1].plot([t / 60 for t, _ in latencies], [ms for _, ms in latencies], ".", markersize=3)
    axes[0][1].set_title("alert → flow run created (ms)")
    axes[1][0].plot(minutes, [r["outbox_open"] for r in rows], label="outbox open")
    axes[1][0].plot(minutes, [r["dead_letters"] for r in rows], label="dead letters")
    axes[1][0].set_title("outbox and dead letters (rows)")
    axes[1][0].legend(fontsize="small")
    axes[1][1].plot(minutes, [r["store_mb"] for r in rows], label="alert store")
    axes[1][1].plot(minutes, [r["prefect_db_mb"] for r in rows], label="Prefect database")
    axes[1][1].set_title("database size (MB)")
    axes[1][1].legend(fontsize="small")
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def soak(minutes: float, rate: int, match_share: float, new_attacker_every: int, out: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="alertflow-soak-"))
    try:
        return _soak(work, minutes, rate, match_share, new_attacker_every, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # an hour at 2,000 alerts/s is tens of GB


def _soak(
    work: Path, minutes: float, rate: int, match_share: float, new_attacker_every: int, out: Path
) -> dict[str, Any]:
    work.chmod(0o755)  # the sshd test user enters its host directory below this
    with ssh_host(work / "hosts") as inventory:
        root = Path(inventory["hosts"][0]["root"])
        data = work / "up" / "data"
        data.parent.mkdir(mode=0o700)
        up = Up(data)
        try:
            save_sensor_block(up, inventory, root / "blocklist.list", [])
            (work / "profiles.yaml").write_text(PROFILES)
            up.cli("profiles", "import", str(work / "profiles.yaml"))
            deployment_id = up.prefect.get(f"/deployments/name/{DEPLOYMENT}").json()["id"]
            sender = Sender(up, rate, match_share, new_attacker_every, run=f"{time.time_ns()}")
            sampler = Sampler(up, sender, deployment_id)
            sender.start()
            deadline = time.monotonic() + minutes * 60
            while time.monotonic() < deadline:
                time.sleep(min(SAMPLE_EVERY_S, max(0.0, deadline - time.monotonic())))
                sampler.sample()
            sender.stop_event.set()
            sender.join(30)
            send_rate = sender.sent / (minutes * 60)
            settle = time.monotonic() + 180
            while time.monotonic() < settle:  # the last batches are stored and the last runs finish
                sampler.sample()
                finished = sum(r["state_type"] in FINAL_STATES for r in sampler.flow_runs())
                if sampler.rows[-1]["stored"] >= sender.sent and finished >= len(sender.first_post):
                    break
                time.sleep(2)
            runs = sampler.flow_runs()
            per_address: dict[str, int] = defaultdict(int)
            for run in runs:
                per_address[run["parameters"]["alert"]["srcip"]] += 1
            completed = sum(run["state_type"] == "COMPLETED" for run in runs)
            stored = int(sampler.rows[-1]["stored"])
        finally:
            up.stop()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "samples.csv").open("w", newline="") as f:
        fields = sorted({k for r in sampler.rows for k in r}, key=lambda k: (k != "elapsed_s", k))
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(sampler.rows)
    plot(sampler.rows, sampler.latency_ms, out / "soak.png")
    return {
        "bench": "soak",
        "minutes": minutes,
        "alerts_sent": sender.sent,
        "alerts_stored": stored,
        "duplicates": max(0, stored - sender.sent) + sum(n - 1 for n in per_address.values() if n > 1),
        "runs_expected": len(sender.first_post),
        "runs": completed,
        "runs_not_completed": len(runs) - completed,
        "rss_growth": rss_growth(sampler.rows, minutes),
        "p99_ms_worst_window": worst_window_p99(sampler.latency_ms),
        "send_rate": round(send_rate, 1),
        "errors_in_logs": int(sampler.rows[-1]["errors_in_logs"]),
        "dead_letters": int(sampler.rows[-1]["dead_letters"]),
        "retried_batches": sender.retries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=int, default=2000, help="Alerts per second posted.")
    parser.add_argument("--match-share", type=float, default=0.02, help="Share of alerts the profile takes.")
    parser.add_argument(
        "--new-attacker-every",
        type=int,
        default=200,
        help="Matching alerts per attacker address (one run each).",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("soak-out"), help="Where samples.csv and soak.png go."
    )
    args = parser.parse_args()
    result = soak(args.minutes, args.rate, args.match_share, args.new_attacker_every, args.out)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
