"""The real `alertflow ingest --source http://...` process under a slow-client and big-body attack.

Hundreds of idle sockets and stalled authenticated bodies, then 30 clients posting ~9 MB
each at once (JSON lines and JSON arrays, streamed). Watched from outside with psutil: the
connections the worker holds stay under its cap and are closed by the worker within its
timeouts, and the memory of the worker plus its decode process stays under PSS_BOUND_MB
(PSS: pages they share count once) and RSS_BOUND_MB. Well-behaved clients retry on 503 as told by
Retry-After, and in the end every body is stored and a normal post is answered at once.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from alertflow.up.prefect_server import free_port
from alertmodel import migrate
from alertmodel.engine import make_engine
from ingest.sources.http_limits import HttpLimits
from tests.ingest.events import count_alerts, suricata_alerts, wait_for
from tests.integration.ingest_kit import WorkerProcess, port_open

pytestmark = pytest.mark.integration

PSS_BOUND_MB = 300
"""Worker + decode process, PSS, at any moment of the attack (the README quotes the measured peak)."""
RSS_BOUND_MB = 400
"""The same as a sum of RSS (pages the two processes share counted twice)."""
IDLE_SOCKETS = 300
STALLED_BODIES = 300
POSTERS = 30
LINES_PER_POST = 4400  # ~2.1 KB each: ~9.4 MB per body
LIMITS = HttpLimits()  # the worker runs with the defaults


@dataclass
class Watch:
    """Samples the worker from outside: PSS of it and its children, and its connections on the port."""

    pid: int
    port: int
    peak_pss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    peak_connections: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def memory_mb(self) -> tuple[float, float]:
        """(PSS, RSS) of the worker and its decode process, in MiB."""
        worker = psutil.Process(self.pid)
        tree = [worker, *worker.children(recursive=True)]
        infos = [p.memory_full_info() for p in tree]
        return sum(i.pss for i in infos) / 2**20, sum(i.rss for i in infos) / 2**20

    def connections(self) -> set[tuple[str, int]]:
        """Peers of the established TCP connections the worker has on its HTTP port."""
        held = psutil.Process(self.pid).net_connections(kind="tcp")
        return {
            (c.raddr.ip, c.raddr.port)
            for c in held
            if c.laddr and c.laddr.port == self.port and c.status == "ESTABLISHED" and c.raddr
        }

    def _run(self) -> None:
        """A connection counts as held once seen in two samples in a row: one over the cap is
        answered 503 and closed within a loop turn, but may be caught between accept and close."""
        started = time.monotonic()
        seen: set[tuple[str, int]] = set()
        while not self._stop.wait(0.2):
            try:
                pss, rss = self.memory_mb()
                peers = self.connections()
            except psutil.NoSuchProcess:
                return
            held, seen = len(peers & seen), peers
            self.samples.append((time.monotonic() - started, pss))
            self.peak_pss_mb = max(self.peak_pss_mb, pss)
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self.peak_connections = max(self.peak_connections, held)


@pytest.fixture
def worker(sqlite_database: str, tmp_path: Path) -> Iterator[tuple[WorkerProcess, int, str]]:
    migrate.upgrade(sqlite_database)
    port = free_port()
    token = secrets.token_urlsafe(32)
    proc = WorkerProcess(
        ["--source", f"http://127.0.0.1:{port}", "--no-dispatch"],
        {
            "ALERTFLOW_DATABASE_URL": sqlite_database,
            "ALERTFLOW_INGEST_TOKEN": token,
            "ALERTFLOW_LOG_LEVEL": "WARNING",
        },
        tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: port_open(port) or not proc.alive(), timeout=60, what="the worker to listen")
        assert proc.alive(), proc.tail()
        yield proc, port, token
    finally:
        if proc.alive():
            assert proc.terminate() == 0, proc.tail()


def _attack_sockets(port: int, token: str) -> list[socket.socket]:
    """Idle connections that never send a request, and authenticated POSTs that stall mid-body."""
    held = []
    stalled_head = (
        f"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {9 * 1024 * 1024}\r\n\r\n"
    ).encode() + suricata_alerts(1, "stalled")[0][:1000]
    for i in range(IDLE_SOCKETS + STALLED_BODIES):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i >= IDLE_SOCKETS:
            with contextlib.suppress(OSError):  # refused at accept (over the connection cap): closed already
                sock.sendall(stalled_head)
        held.append(sock)
    return held


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False  # nothing more to read, yet open
    except OSError:
        return True  # reset
    return True  # end of stream


def _body(poster: int) -> Iterator[bytes]:
    """A ~9.4 MB body, made while it is sent: even posters send JSON lines, odd ones a JSON array."""
    array = poster % 2 == 1
    if array:
        yield b"["
    for start in range(0, LINES_PER_POST, 200):
        lines = suricata_alerts(200, f"poster{poster}", start)
        yield (b",\n" if array else b"\n").join(lines) + (b",\n" if array else b"\n")
    if array:
        yield b'{"source": "alertflow-test", "event": "array-end-%d"}]' % poster


def _post_until_stored(url: str, token: str, poster: int, answers: list[int]) -> None:
    """Post one body, retrying on 503 (Retry-After) and on a refused or dropped connection."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            response = httpx.post(url, content=_body(poster), headers=headers, timeout=120)
        except httpx.TransportError:
            time.sleep(1)
            continue
        answers.append(response.status_code)
        if response.status_code != 503:
            return
        time.sleep(float(response.headers.get("retry-after", "1")))
    raise AssertionError(f"poster {poster} could not store its body in 240 s")


def test_slow_clients_and_big_bodies_stay_within_the_bounds_and_the_worker_keeps_answering(
    worker: tuple[WorkerProcess, int, str], sqlite_database: str
) -> None:
    proc, port, token = worker
    url = f"http://127.0.0.1:{port}/ingest"
    watch = Watch(proc.proc.pid, port)
    idle_pss, idle_rss = watch.memory_mb()
    watch.start()

    attack = _attack_sockets(port, token)
    answers: list[int] = []
    posters = [
        threading.Thread(target=_post_until_stored, args=(url, token, i, answers)) for i in range(POSTERS)
    ]
    for thread in posters:
        thread.start()

    # every attack socket is closed by the worker: refused at once, or after the header or body timeouts
    give_up = time.monotonic() + LIMITS.header_timeout_s + LIMITS.read_timeout_s + 20
    open_sockets = attack
    while open_sockets and time.monotonic() < give_up:
        open_sockets = [s for s in open_sockets if not _closed_by_server(s)]
        time.sleep(0.5)
    for sock in attack:
        sock.close()
    assert not open_sockets, f"{len(open_sockets)} attack connections still open"

    for thread in posters:
        thread.join(300)
    watch.stop()
    time.sleep(2)  # the worker settles
    after_pss, after_rss = watch.memory_mb()
    print(
        f"\nworker + decode process: idle {idle_pss:.0f} MB PSS ({idle_rss:.0f} MB RSS); "
        f"peak {watch.peak_pss_mb:.0f} MB PSS ({watch.peak_rss_mb:.0f} MB RSS); "
        f"after {after_pss:.0f} MB PSS ({after_rss:.0f} MB RSS); "
        f"peak connections {watch.peak_connections}; answers {sorted(set(answers))} "
        f"({answers.count(503)} x 503)"
    )
    assert proc.alive(), proc.tail()
    assert watch.peak_connections <= LIMITS.max_connections
    assert watch.peak_pss_mb < PSS_BOUND_MB, f"peak {watch.peak_pss_mb:.0f} MB PSS"
    assert watch.peak_rss_mb < RSS_BOUND_MB, f"peak {watch.peak_rss_mb:.0f} MB RSS"
    assert sorted(set(answers) - {503}) == [202] and answers.count(202) == POSTERS

    started = time.monotonic()
    normal = httpx.post(
        url, content=suricata_alerts(1, "afterwards")[0], headers={"Authorization": f"Bearer {token}"}
    )
    assert normal.status_code == 202 and time.monotonic() - started < 5
    engine = make_engine(sqlite_database)
    try:
        # each poster's lines, the odd (array) posters' end marker, and the normal post
        assert count_alerts(engine)[0] == POSTERS * LINES_PER_POST + POSTERS // 2 + 1
    finally:
        engine.dispose()
