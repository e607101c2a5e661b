"""Start and stop a local Prefect server (SQLite) for `alertflow up` and the test suite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# SQLite has one writer. The late-runs service fights API writes for it ("SQLite lock storms");
# alertflow's dispatcher handles late runs itself. The event persister's default flush (every
# 20 events or 5 s) takes the write lock often; flushing every 30 s (or 2,000 events) keeps
# every event and leaves the lock to API writes (which begin IMMEDIATE and wait for it, see
# alertflow.up.prefect_sqlite_server).
EMBEDDED_SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "2000",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "30",
    "PREFECT_UI_ENABLED": "false",
}


def vacuum_env(retain_flow_runs_days: int | None) -> dict[str, str]:
    """Prefect's database vacuum settings: finished flow runs (with their logs and artifacts) older
    than this many days are deleted, as are events past Prefect's own event retention (7 days).
    None leaves flow runs alone (Prefect's default vacuums events only)."""
    if retain_flow_runs_days is None:
        return {"PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events"}
    return {
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": str(retain_flow_runs_days * 86400),
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPrefectServer:
    """A `prefect server start` child process bound to loopback."""

    home: Path
    port: int
    host: str = "127.0.0.1"
    auth_string: str | None = None
    ui: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def client_env(self) -> dict[str, str]:
        """Environment variables a client process needs to reach this server."""
        env = {"PREFECT_API_URL": self.api_url}
        if self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.auth_string
        return env

    def start(self, timeout_s: float = 90) -> LocalPrefectServer:
        """Start the server and wait until `/api/health` answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **EMBEDDED_SERVER_ENV, "PREFECT_HOME": str(self.home), **self.extra_env}
        env.pop("PREFECT_API_URL", None)
        if self.ui:
            env["PREFECT_UI_ENABLED"] = "true"
        if self.auth_string:
            env["PREFECT_SERVER_API_AUTH_STRING"] = self.auth_string
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alertflow.up.prefect_sqlite_server",
                "server",
                "start",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_healthy(timeout_s)
        return self

    def healthy(self, timeout_s: float = 3) -> bool:
        """Whether `/api/health` answers now."""
        try:
            auth = tuple(self.auth_string.split(":", 1)) if self.auth_string else None
            response = httpx.get(f"{self.api_url}/health", timeout=timeout_s, auth=auth)  # type: ignore[arg-type]
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"prefect server exited with {self.process.returncode}; see {self.log_path}"
                )
            if self.healthy(timeout_s=2):
                return
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(
            f"prefect server on {self.api_url} not healthy after {timeout_s:.0f}s; see {self.log_path}"
        )

    def stop(self, timeout_s: float = 20) -> None:
        """Stop the server and every process it started."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


class HealthWatch:
    """Polls `/api/health` every 0.5 s from a thread; counts the checks that got no 200 in time.

    Used around bursts of flow-run creation: an SQLite-backed server can stop answering.
    """

    def __init__(self, api_url: str, timeout_s: float) -> None:
        self.api_url, self.timeout_s = api_url, timeout_s
        self.checks = self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s + 5)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.wait(0.5):
                self.checks += 1
                try:
                    ok = client.get(f"{self.api_url}/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.unanswered += not ok
