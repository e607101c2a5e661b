"""Fixtures for the response tests: a served playbook deployment, a worker on a file, helpers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from alertflow.up.prefect_server import LocalPrefectServer, free_port
from alertmodel import Alert, Outbox, PlaybookRun, migrate
from alertmodel.engine import make_engine
from ingest.core import IngestCore
from ingest.sources.file import FileSource
from ingest.worker import Worker
from response.dispatcher import DispatcherConfig, run_dispatcher
from response.outbox_writer import ResponseHook

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = "record-alert/test"


@dataclass
class ServedPlaybook:
    """The `record-alert/test` deployment, served by a subprocess that runs its flow runs."""

    deployment: str
    deployment_id: str
    record_dir: Path

    def recorded(self, alert_uuid: str) -> dict[str, Any] | None:
        path = self.record_dir / f"{alert_uuid}.json"
        return json.loads(path.read_text()) if path.exists() else None


def start_serving(server: LocalPrefectServer, home: Path, record_dir: Path) -> subprocess.Popen[bytes]:
    """`python -m tests.integration.response.playbooks` against `server`, polling every second."""
    env = {
        **os.environ,
        **server.client_env(),
        "PREFECT_HOME": str(home),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "RECORD_DIR": str(record_dir),
    }
    log = (home / "serve.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.response.playbooks"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return process


@contextmanager
def own_prefect_server(home: Path, what: str) -> Iterator[LocalPrefectServer]:
    """A Prefect server of `what`'s own (not the session's), stopped when the block ends."""
    server = LocalPrefectServer(home=home, port=free_port())
    try:
        server.start()
    except (RuntimeError, TimeoutError) as exc:
        pytest.fail(f"{what}' Prefect server did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


def wait_for_deployment(server: LocalPrefectServer, name: str, timeout_s: float = 120) -> str:
    """The id of deployment `name` once it exists."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{server.api_url}/deployments/name/{name}", timeout=10)
            if response.status_code == 200:
                return str(response.json()["id"])
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"deployment {name} did not appear on {server.api_url} within {timeout_s:.0f}s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture(scope="session")
def served_playbook(
    prefect_server: LocalPrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedPlaybook]:
    home = tmp_path_factory.mktemp("serve-home")
    record_dir = tmp_path_factory.mktemp("records")
    process = start_serving(prefect_server, home, record_dir)
    try:
        deployment_id = wait_for_deployment(prefect_server, PLAYBOOK)
        yield ServedPlaybook(PLAYBOOK, deployment_id, record_dir)
    finally:
        stop_process(process)


@pytest.fixture
def store(sqlite_database: str) -> Iterator[Engine]:
    """A migrated SQLite alert store."""
    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    yield engine
    engine.dispose()


SURICATA_TEMPLATE = {
    "event_type": "alert",
    "src_port": 51234,
    "dest_ip": "10.16.1.11",
    "dest_port": 80,
    "proto": "TCP",
    "alert": {
        "action": "allowed",
        "gid": 1,
        "signature_id": 2019284,
        "rev": 3,
        "signature": "ET SCAN Nmap Scripting Engine User-Agent Detected (Nmap Scripting Engine)",
        "category": "Web Application Attack",
        "severity": 1,
    },
}


def suricata_line(n: int, srcip: str = "192.0.2.10", tag: str = "") -> bytes:
    """One EVE alert line; `n` and `tag` make it (and so its alert_uuid) unique."""
    event = {
        **SURICATA_TEMPLATE,
        "timestamp": f"2026-11-23T12:{(n // 60) % 60:02d}:{n % 60:02d}.{n:06d}+0000",
        "flow_id": 1_000_000 + n,
        "src_ip": srcip,
        "tag": tag,
    }
    return json.dumps(event).encode() + b"\n"


@contextmanager
def running_worker(engine: Engine, path: Path, **kwargs: Any) -> Iterator[Worker]:
    """The ingest worker following `path`, with the response hook, until the block ends."""
    path.touch()
    worker = Worker(
        engine,
        IngestCore(node="node1"),
        [FileSource(path, follow=True, poll_s=0.05)],
        batch_wait_s=0.05,
        batch_hooks=[ResponseHook()],
        **kwargs,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.request_stop()
        assert worker.wait(60), "the worker did not stop"


@asynccontextmanager
async def running_dispatcher(engine: Engine, config: DispatcherConfig | None = None) -> AsyncIterator[None]:
    """The real dispatcher (default executors, this process's Prefect settings) until the block ends."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(run_dispatcher(engine, config, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)


async def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(poll_s)


def count_alerts(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(Alert.__table__.c.alert_uuid)).all())


def outbox_states(engine: Engine) -> dict[str, int]:
    from response.dispatcher import count_outbox

    return count_outbox(engine)


def playbook_runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(PlaybookRun.__table__).order_by(PlaybookRun.__table__.c.id)).all()


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(Outbox.__table__).order_by(Outbox.__table__.c.id)).all()


def flow_runs_of(api_url: str, deployment_id: str) -> list[dict[str, Any]]:
    """Every flow run of a deployment (REST, paginated), as Prefect returns them."""
    runs: list[dict[str, Any]] = []
    offset = 0
    with httpx.Client(timeout=60) as client:
        while True:
            for attempt in range(20):
                response = client.post(
                    f"{api_url}/flow_runs/filter",
                    json={"deployments": {"id": {"any_": [deployment_id]}}, "limit": 200, "offset": offset},
                )
                if response.status_code != 503:
                    break
                time.sleep(0.5 * (attempt + 1))
            response.raise_for_status()
            page = response.json()
            runs.extend(page)
            if len(page) < 200:
                return runs
            offset += 200


def alert_uuids_of(runs: list[dict[str, Any]]) -> list[str]:
    return [r["parameters"]["alert"]["alert_uuid"] for r in runs]
