"""Chaos: one fixed scenario of faults against a running `alertflow up`, checked after each.

`alertflow up` runs on a fresh data dir whose alert store (SQLite) lies on its own small tmpfs
(`mount -t tmpfs -o size=...` on `<data>/store`; the bench needs root). A second ingest worker (`--no-dispatch`) reads a STOMP queue of the local ActiveMQ into the same
store. For every fault, a sender posts a steady stream (a share of it Suricata alerts that a
response profile answers with `block-attacker/always`, grouped by source address: exactly one
flow run per address) while the fault happens, resending every batch not answered 202; then
the bench waits for the system to settle and checks: every alert sent is stored once, every
attacker address has exactly one flow run and it completed, and no outbox row is left open.

The faults, in order:
- kill-ingest: `kill -9` of the ingest worker (up starts it again; unacknowledged bodies are resent).
- kill-dispatcher: `kill -9` of the same process just after matching alerts were stored, while
  the dispatcher (a thread of the ingest worker) has outbox rows to act on.
- kill-serve: `kill -9` of the runner that executes flow runs, while runs are under way.
- kill-prefect: `kill -9` of the Prefect server.
- broker-restart: ActiveMQ stopped and started (`/etc/init.d/activemq`, as scripts/services.sh
  starts it) while messages are published to and consumed from its queue.
- db-cut: the alert store unwritable for 30 s. On SQLite the bench holds an exclusive write
  lock (`BEGIN EXCLUSIVE`) on the database for 30 s: every writer (ingest, dispatcher, API)
  meets `database is locked`, as it would meet a lost MariaDB connection. (chmod 000 does not
  cut a process running as root, and the shared MariaDB is not stopped under other users.)
- disk-full: the store's file system filled to the last byte for 20 s. Ingest must answer 503
  (never 202, never a reset), then store everything once space is back; PRAGMA
  integrity_check is "ok" afterwards.
- clock-jump: the sensors' clock jumps: half-way, the events' own timestamps move 1 h
  forward (ahead of the store's clock), then a day back. The store's own clock is not moved:
  Debian's libfaketime (0.9.10) hangs Python's threading.Event.wait under LD_PRELOAD and fails
  time.sleep with EINVAL when the monotonic clock is left alone, so up cannot run under it,
  and the machine's clock is shared with other users.

Prints a table on stderr and one line per fault on stdout:
{"bench": "chaos", "scenario": ..., "passed": true|false, "lost": ..., "doubled": ..., ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import stomp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from support.stack import REPO, Up, save_sensor_block, ssh_host  # noqa: E402

from ingest.core import IngestCore  # noqa: E402

SAMPLES = REPO / "tests" / "fixtures" / "samples"
SID = 9000102
DEPLOYMENT = "block-attacker/always"
PROFILES = f"""\
response_profiles:
  - name: chaos-block
    match: {{source: Suricata, event: "{SID}"}}
    group: {{key: srcip, window_seconds: 86400}}
    actions:
      - {{kind: playbook, deployment: {DEPLOYMENT}}}
"""
STOMP_PORT = 61613
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


TEMPLATES: list[bytes] = []


def attacker(scenario_index: int, n: int) -> str:
    """Documentation addresses, a fresh range per scenario: public to the sensor, never routed."""
    net = ("192.0.2", "198.51.100", "203.0.113")[scenario_index % 3]
    return f"{net}.{(scenario_index // 3) * 60 + n + 1}"


def matching_event(tag: str, srcip: str, n: int, clock: datetime | None) -> bytes:
    when = clock or datetime.now(UTC)
    event = {
        "chaos": tag,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"),
        "flow_id": 20_000_000 + n,
        "event_type": "alert",
        "src_ip": srcip,
        "src_port": 40000 + n % 20000,
        "dest_ip": "198.51.100.20",
        "dest_port": 80,
        "proto": "TCP",
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": SID,
            "rev": 1,
            "signature": "ALERTFLOW chaos test",
            "category": "Web Application Attack",
            "severity": 1,
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


class Stream:
    """The events of one scenario: tagged `<scenario>-<n>`, every `match_every`-th one matching."""

    def __init__(self, scenario: str, index: int, match_every: int = 20, per_attacker: int = 10) -> None:
        self.scenario, self.index = scenario, index
        self.match_every, self.per_attacker = match_every, per_attacker
        self.n = 0
        self.matching = 0
        self.attackers: set[str] = set()
        self.clock: datetime | None = None  # events carry this time once set
        self.lock = threading.Lock()

    def take(self, count: int) -> list[bytes]:
        with self.lock:
            lines = []
            for _ in range(count):
                n, self.n = self.n, self.n + 1
                tag = f"{self.scenario}-{n}"
                if n % self.match_every == 0:
                    srcip = attacker(self.index, min(self.matching // self.per_attacker, 59))
                    self.matching += 1
                    self.attackers.add(srcip)
                    lines.append(matching_event(tag, srcip, n, self.clock))
                else:
                    base = TEMPLATES[n % len(TEMPLATES)]
                    lines.append(b'{"chaos":"' + tag.encode() + b'",' + base.lstrip()[1:])
            return lines


class HttpSender(threading.Thread):
    """Posts `rate` events/s in ten batches a second; a batch not answered 202 is sent again."""

    def __init__(self, up: Up, stream: Stream, rate: int) -> None:
        super().__init__(daemon=True)
        self.up, self.stream, self.per_tick = up, stream, max(1, rate // 10)
        self.stop_event = threading.Event()
        self.answers: Counter[str] = Counter()
        self.sent = 0

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            body = b"\n".join(self.stream.take(self.per_tick)) + b"\n"
            while True:  # a batch once taken is delivered, even after stop
                try:
                    status = self.up.ingest.post("/ingest", content=body, timeout=90).status_code
                    self.answers[str(status)] += 1
                    if status == 202:
                        break
                except httpx.HTTPError as exc:
                    self.answers[type(exc).__name__] += 1
                time.sleep(0.5)
            self.sent += self.per_tick
            next_tick += 0.1
            time.sleep(max(0.0, next_tick - time.monotonic()))


class StompSender(threading.Thread):
    """Publishes `rate` events/s as persistent messages, a receipt per batch; a batch without one is sent again."""

    def __init__(self, queue: str, stream: Stream, rate: int) -> None:
        super().__init__(daemon=True)
        self.queue, self.stream, self.per_tick = queue, stream, max(1, rate // 10)
        self.stop_event = threading.Event()
        self.answers: Counter[str] = Counter()
        self.sent = 0

    def _publish(self, lines: list[bytes]) -> None:
        conn = stomp.Connection12([("127.0.0.1", STOMP_PORT)], timeout=5)
        conn.connect(wait=True)
        try:
            for line in lines:
                conn.send(self.queue, line, headers={"persistent": "true"})
        finally:
            conn.disconnect(receipt="published")  # the receipt comes after every SEND before it

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            lines = self.stream.take(self.per_tick)
            while True:
                try:
                    self._publish(lines)
                    self.answers["published"] += 1
                    break
                except Exception as exc:  # the broker is away: publish the batch again
                    self.answers[type(exc).__name__] += 1
                    time.sleep(1)
            self.sent += len(lines)
            next_tick += 0.1
            time.sleep(max(0.0, next_tick - time.monotonic()))


# -- the faults ---------------------------------------------------------------------------------


def kill_child(up: Up, role: str) -> Callable[[], str]:
    def fault() -> str:
        pid = _wait_for_pid(up, role)
        os.kill(pid, signal.SIGKILL)
        return f"killed {role} pid {pid}"

    return fault


def kill_dispatcher(up: Up, store: Store) -> str:
    """Kill the ingest worker, whose thread the dispatcher is, while it holds a claimed outbox row."""
    deadline = time.monotonic() + 20
    claimed = 0
    while time.monotonic() < deadline and not claimed:
        claimed = int(
            store.query("SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND attempts > 0")[0][0]
        )
        if not claimed:
            time.sleep(0.05)
    return kill_child(up, "ingest")() + f" holding {claimed} claimed outbox row(s)"


def _wait_for_pid(up: Up, role: str, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while (pid := up.child_pid(role)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {role} process to kill")
        time.sleep(0.5)
    return pid


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def restart_broker() -> str:
    subprocess.run(["/etc/init.d/activemq", "stop"], check=False, capture_output=True, timeout=120)
    _until(lambda: not port_open(STOMP_PORT), 60, "ActiveMQ to stop")
    subprocess.run(["/etc/init.d/activemq", "start"], check=False, capture_output=True, timeout=120)
    _until(lambda: port_open(STOMP_PORT), 180, "ActiveMQ STOMP to answer again")
    return "ActiveMQ stopped and started"


def cut_database(db: Path, seconds: float) -> str:
    conn = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    return f"held an exclusive lock on the store for {seconds:.0f} s"


def fill_disk(store: Path, seconds: float, sender: HttpSender) -> str:
    """Fill the store's file system for `seconds`, probing ingest once a second with a fresh body;
    a probe not answered 202 is sent again once space is back (so its alerts count like the rest)."""
    filler = store / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 512):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    unacked: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        body = b"\n".join(sender.stream.take(10)) + b"\n"
        try:
            status = str(sender.up.ingest.post("/ingest", content=body, timeout=30).status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        sender.answers[f"probe-{status}"] += 1
        if status != "202":
            unacked.append(body)
    filler.unlink()
    for body in unacked:
        while sender.up.ingest.post("/ingest", content=body, timeout=90).status_code != 202:
            time.sleep(0.5)
    probes = {k: v for k, v in sender.answers.items() if k.startswith("probe-")}
    return "probes while full: " + json.dumps(probes)


def jump_clock(stream: Stream) -> str:
    now = datetime.now(UTC)
    stream.clock = now + timedelta(hours=1)
    time.sleep(4)
    stream.clock = now - timedelta(days=1)
    return "event time +1 h for 4 s, then -1 day"


def _until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.5)


# -- checks ---------------------------------------------------------------------------------------


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)) as conn:
            return conn.execute(sql, args).fetchall()

    def tags(self, scenario: str) -> Counter[str]:
        rows = self.query(
            "SELECT json_extract(json_event, '$.chaos'), COUNT(*) FROM alert "
            "WHERE json_event LIKE ? GROUP BY 1",
            f'%"chaos":"{scenario}-%',
        )
        return Counter({tag: n for tag, n in rows if tag and tag.rsplit("-", 1)[0] == scenario})

    def open_outbox(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM outbox WHERE state != 'done'")[0][0])

    def integrity(self) -> str:
        return str(self.query("PRAGMA integrity_check")[0][0])


def runs_by_attacker(up: Up, deployment_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    offset = 0
    while True:
        body = {"deployments": {"id": {"any_": [deployment_id]}}, "limit": 200, "offset": offset}
        page = up.prefect.post("/flow_runs/filter", json=body).json()
        for run in page:
            found[run["parameters"]["alert"]["srcip"]].append(run["state_type"])
        if len(page) < 200:
            return found
        offset += 200


def verdict(up: Up, store: Store, deployment_id: str, stream: Stream, settle_s: float) -> dict[str, Any]:
    """Wait until stored, run and drained (or `settle_s`), then count what is missing or doubled."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            tags = store.tags(stream.scenario)
            runs = runs_by_attacker(up, deployment_id)
            open_rows = store.open_outbox()
            done = (
                len(tags) >= stream.n
                and all(runs.get(a) and all(s in FINAL_STATES for s in runs[a]) for a in stream.attackers)
                and open_rows == 0
            )
        except (sqlite3.Error, httpx.HTTPError, ValueError, KeyError) as exc:
            done, error = False, exc
        else:
            error = None
        if done or time.monotonic() > deadline:
            break
        time.sleep(2)
    if error is not None:
        raise RuntimeError(f"could not read the outcome: {error}")
    mine = {a: runs.get(a, []) for a in stream.attackers}
    return {
        "sent": stream.n,
        "stored": sum(tags.values()),
        "lost": stream.n - len(tags),
        "doubled": sum(n - 1 for n in tags.values()) + sum(max(0, len(s) - 1) for s in mine.values()),
        "attackers": len(mine),
        "runs_missing": sum(1 for s in mine.values() if not s),
        "runs_not_completed": sum(1 for s in mine.values() for state in s if state != "COMPLETED"),
        "outbox_open": open_rows,
        "integrity": store.integrity(),
    }


# -- the run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="Events per second sent during a fault.")
    parser.add_argument("--settle", type=float, default=600, help="Seconds to wait for the system to settle.")
    parser.add_argument("--only", action="append", help="Run only these scenarios (repeatable).")
    parser.add_argument("--store-mb", type=int, default=512, help="Size of the store's tmpfs.")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/chaos.py mounts a tmpfs and restarts ActiveMQ: run it as root")
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM cleans up like Ctrl-C: up stopped, tmpfs unmounted
    TEMPLATES.extend(templates())
    work = Path(tempfile.mkdtemp(prefix="alertflow-chaos-"))
    work.chmod(0o755)  # the sshd test user enters its host directory below this
    results = run(work, args)
    print(table(results), file=sys.stderr)
    for result in results:
        print(json.dumps(result), flush=True)
    sys.exit(0 if all(r["passed"] for r in results) else 1)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    data = work / "up" / "data"
    data.parent.mkdir(mode=0o700)
    data.mkdir(mode=0o700)
    store_dir = data / "store"
    store_dir.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={args.store_mb}m", "tmpfs", str(store_dir)], check=True
    )
    db = store_dir / "alertflow.db"
    env = {"ALERTFLOW_DATABASE_URL": f"sqlite:///{db}"}
    results: list[dict[str, Any]] = []
    consumer: subprocess.Popen[bytes] | None = None
    try:
        with ssh_host(work / "hosts") as inventory:
            root = Path(inventory["hosts"][0]["root"])
            up = Up(data, extra_env=env)
            try:
                save_sensor_block(up, inventory, root / "blocklist.list", [])
                (work / "profiles.yaml").write_text(PROFILES)
                up.cli("profiles", "import", str(work / "profiles.yaml"))
                deployment_id = up.prefect.get(f"/deployments/name/{DEPLOYMENT}").json()["id"]
                queue = f"/queue/alertflow-chaos-{os.getpid()}"
                with (work / "stomp-ingest.log").open("wb") as log:
                    consumer = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "alertflow",
                            "ingest",
                            "--no-dispatch",
                            "--source",
                            f"stomp://127.0.0.1:{STOMP_PORT}{queue}",
                            "--batch-wait",
                            "0.1",
                        ],
                        cwd=REPO,
                        env=up.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                store = Store(db)
                scenarios: list[tuple[str, str, Callable[[HttpSender], str]]] = [
                    ("kill-ingest", "http", lambda _s: kill_child(up, "ingest")()),
                    ("kill-dispatcher", "http", lambda _s: kill_dispatcher(up, store)),
                    ("kill-serve", "http", lambda _s: kill_child(up, "serve")()),
                    ("kill-prefect", "http", lambda _s: kill_child(up, "prefect")()),
                    ("broker-restart", "stomp", lambda _s: restart_broker()),
                    ("db-cut", "http", lambda _s: cut_database(db, 30)),
                    ("disk-full", "http", lambda s: fill_disk(store_dir, 20, s)),
                    ("clock-jump", "http", lambda s: jump_clock(s.stream)),
                ]
                for index, (name, via, fault) in enumerate(scenarios):
                    if args.only and name not in args.only:
                        continue
                    results.append(scenario(up, store, deployment_id, index, name, via, queue, fault, args))
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            finally:
                if consumer is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(consumer.pid, signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        consumer.wait(60)
                up.stop()
                (work / "up-logs").mkdir(exist_ok=True)
                subprocess.run(["cp", "-r", str(data / "logs"), str(work / "up-logs")], check=False)
    finally:
        subprocess.run(["umount", "-l", str(store_dir)], check=False)
    print(f"logs: {work}", file=sys.stderr)
    return results


def scenario(
    up: Up,
    store: Store,
    deployment_id: str,
    index: int,
    name: str,
    via: str,
    queue: str,
    fault: Callable[[HttpSender], str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    stream = Stream(name, index)
    http = HttpSender(up, stream, args.rate)
    senders: list[HttpSender | StompSender] = [
        StompSender(queue, stream, args.rate) if via == "stomp" else http
    ]
    started = time.monotonic()
    for sender in senders:
        sender.start()
    time.sleep(4)
    what = fault(http)
    time.sleep(6)
    for sender in senders:
        sender.stop_event.set()
    for sender in senders:
        sender.join(600)
    outcome = verdict(up, store, deployment_id, stream, args.settle)
    answers: Counter[str] = Counter()
    for sender in senders:
        answers.update(sender.answers)
    checks = [
        outcome["lost"] == 0,
        outcome["doubled"] == 0,
        outcome["runs_missing"] == 0,
        outcome["runs_not_completed"] == 0,
        outcome["outbox_open"] == 0,
        outcome["integrity"] == "ok",
    ]
    # disk-full: a new body is refused cleanly (503) while full, never an error or a dropped
    # connection; a body queued before is answered once stored (202) or after the commit timeout (503)
    if name == "disk-full":
        checks.append(answers["probe-503"] > 0 and set(answers) <= {"202", "503", "probe-202", "probe-503"})
    return {
        "bench": "chaos",
        "scenario": name,
        "passed": all(checks),
        "lost": outcome["lost"],
        "doubled": outcome["doubled"],
        **{k: v for k, v in outcome.items() if k not in ("lost", "doubled")},
        "answers": dict(answers),
        "fault": what,
        "seconds": round(time.monotonic() - started, 1),
    }


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "scenario",
        "passed",
        "sent",
        "lost",
        "doubled",
        "runs",
        "missing",
        "not_ok",
        "outbox",
        "integrity",
    )
    rows = [
        (
            r["scenario"],
            "yes" if r["passed"] else "NO",
            str(r["sent"]),
            str(r["lost"]),
            str(r["doubled"]),
            str(r["attackers"]),
            str(r["runs_missing"]),
            str(r["runs_not_completed"]),
            str(r["outbox_open"]),
            r["integrity"],
        )
        for r in results
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join(
        " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in (head, *rows)
    )


if __name__ == "__main__":
    main()
