"""Helpers for the ingest worker's integration tests: STOMP publishing, the broker, a cuttable TCP proxy."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import stomp

from tests.ingest.events import wait_for

STOMP_HOST, STOMP_PORT = "127.0.0.1", 61613


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_broker() -> None:
    """Fail loudly when ActiveMQ's STOMP port does not answer."""
    if not port_open(STOMP_PORT):
        import pytest

        pytest.fail("ActiveMQ STOMP is not answering on 127.0.0.1:61613; run `bash scripts/services.sh up`")


def publish(destination: str, bodies: list[bytes]) -> None:
    """Send persistent messages (they survive a broker restart) and wait until the broker has them all."""
    conn = stomp.Connection12([(STOMP_HOST, STOMP_PORT)])
    conn.connect(wait=True)
    try:
        for body in bodies:
            conn.send(destination, body, headers={"persistent": "true"})
    finally:
        conn.disconnect(receipt="published")  # the receipt comes after every SEND before it was handled


def restart_broker() -> None:
    """Stop ActiveMQ and start it again (always), waiting until STOMP answers once more."""
    try:
        subprocess.run(["/etc/init.d/activemq", "stop"], check=False, capture_output=True, timeout=120)
        wait_for(lambda: not port_open(STOMP_PORT), timeout=60, what="ActiveMQ to stop")
    finally:
        subprocess.run(["/etc/init.d/activemq", "start"], check=False, capture_output=True, timeout=120)
        wait_for(lambda: port_open(STOMP_PORT), timeout=120, what="ActiveMQ STOMP to answer again")


class TcpProxy:
    """Forwards a free loopback port to a target; `cut()` drops every connection and refuses new ones.

    This simulates an unreachable database without touching the shared MariaDB.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._cut = False
        self._closed = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop all connections; new ones are closed at once until `restore()`."""
        with self._lock:
            self._cut = True
            for sock in self._sockets:
                _shut(sock)
            self._sockets.clear()

    def restore(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    _shut(client)
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _shut(client)
                    continue
                upstream.settimeout(None)
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut(src)
            _shut(dst)
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class WorkerProcess:
    """`alertflow ingest --no-dispatch` as a subprocess, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = log.open("ab")
        self.proc = subprocess.Popen(
            # this interpreter, not a path under the checkout: a git worktree has no .venv of its own
            [sys.executable, "-m", "alertflow", "ingest", "--no-dispatch", *args],
            env={**os.environ, **env},
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no draining, no goodbye."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._fh.close()

    def terminate(self) -> int:
        """SIGTERM, then the exit code once it drained."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(90)
        finally:
            self._fh.close()

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def tail(self) -> str:
        """The end of its log, for failure messages."""
        return self.log.read_text(errors="replace")[-4000:]
