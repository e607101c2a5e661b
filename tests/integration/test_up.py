"""`alertflow up --demo` end to end: API auth, an alert over HTTP that matches the demo profile
runs the demo playbook on a loopback sshd to Completed, the drop directory, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text

from alertflow.up.demo import DEMO_SIGNATURE_ID, EVENTS
from alertflow.up.prefect_server import free_port
from tests.prefect_http import prefect_call

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Any, what: str, timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


class Up:
    def __init__(self, data: Path, prefect_port: int, ingest_port: int) -> None:
        self.data = data
        self.prefect_port = prefect_port
        self.api_url = f"http://127.0.0.1:{prefect_port}/api"
        self.ingest_url = f"http://127.0.0.1:{ingest_port}/ingest"
        self.out = data.parent / "up.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
        env |= {
            "ALERTFLOW_DATA_DIR": str(data),
            "ALERTFLOW_UP_PREFECT_PORT": str(prefect_port),
            "ALERTFLOW_UP_INGEST_PORT": str(ingest_port),
            "ALERTFLOW_UP_READY_TIMEOUT_S": "280",
        }
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alertflow", "up", "--demo", "--no-ui"],
                cwd=data.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def auth(self) -> tuple[str, str]:
        user, _, password = (self.data / "prefect-auth").read_text().strip().partition(":")
        return user, password

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.api_url, auth=self.auth(), timeout=60) as http:
            return prefect_call(http, method, path, **kwargs)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = Up(tmp_path_factory.mktemp("up") / "data", free_port(), free_port())
    try:
        wait_for(
            lambda: "alertflow is up" in running.output() or running.process.poll() is not None,
            "alertflow up to be ready",
            300,
        )
        assert "alertflow is up" in running.output(), running.output()
        yield running
    finally:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGINT)
            try:
                running.process.wait(90)
            except subprocess.TimeoutExpired:
                running.process.kill()


def test_the_prefect_api_refuses_requests_without_the_auth_string(up: Up) -> None:
    auth_file = up.data / "prefect-auth"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    body = {"include_secrets": True}
    refused = httpx.post(f"{up.api_url}/block_documents/filter", json=body, timeout=30)
    assert refused.status_code == 401
    wrong = httpx.post(
        f"{up.api_url}/block_documents/filter", json=body, auth=("alertflow", "guess"), timeout=30
    )
    assert wrong.status_code == 401
    allowed = up.api("POST", "/block_documents/filter", json=body)
    assert allowed.status_code == 200
    assert isinstance(allowed.json(), list)


def test_an_alert_over_http_matching_the_demo_profile_runs_the_demo_playbook_to_completed(
    up: Up, ssh_hosts: Any
) -> None:
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    auth = ":".join(up.auth())
    with temporary_settings(updates={PREFECT_API_URL: up.api_url, PREFECT_API_AUTH_STRING: auth}):
        ssh_hosts.profile(2).save("demo-host", overwrite=True)

    attacker = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    event = json.loads(EVENTS.read_text().splitlines()[0])
    assert event["alert"]["signature_id"] == DEMO_SIGNATURE_ID
    event |= {"src_ip": attacker, "flow_id": uuid.uuid4().int % 10**15}
    token = (up.data / "ingest-token").read_text().strip()
    assert httpx.post(up.ingest_url, content=json.dumps(event), timeout=30).status_code == 401
    accepted = httpx.post(
        up.ingest_url, content=json.dumps(event), headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert accepted.status_code == 202, accepted.text

    deployment = up.api("GET", "/deployments/name/yaml-playbook/demo-contain").json()

    def our_run() -> dict[str, Any] | None:
        runs = up.api(
            "POST", "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
        ).json()
        mine = [r for r in runs if (r["parameters"].get("alert") or {}).get("srcip") == attacker]
        if mine and mine[0]["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return mine[0]
        return None

    run = wait_for(our_run, "the demo playbook run", 240)
    logs = (up.data / "logs" / "serve.log").read_text(errors="replace")[-4000:]
    assert run["state_type"] == "COMPLETED", f"{run['state_name']}: {logs}"
    assert run["idempotency_key"].endswith(":demo-contain")
    store = create_engine(f"sqlite:///{up.data / 'alertflow.db'}")
    with store.connect() as conn:
        recorded = conn.execute(
            text("SELECT flow_run_id FROM playbook_run WHERE profile = 'demo-contain' AND flow_run_id = :id"),
            {"id": run["id"]},
        ).all()
    store.dispose()
    assert len(recorded) == 1


def test_a_file_in_the_drop_directory_is_imported_once_and_moved_to_done(up: Up) -> None:
    event = json.loads(EVENTS.read_text().splitlines()[2])
    assert event["rule"]["id"] == "550"
    marker = f"/etc/demo/{uuid.uuid4().hex}.conf"
    event["syscheck"]["path"] = marker
    staging = up.data / "drop" / "batch.tmp"
    staging.write_text(json.dumps(event) + "\n")
    staging.rename(up.data / "drop" / "batch.jsonl")
    wait_for(
        lambda: list((up.data / "drop" / "done").glob("batch.*.jsonl")),
        "the dropped file to be imported",
        180,
    )
    store = create_engine(f"sqlite:///{up.data / 'alertflow.db'}")
    with store.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM alert WHERE file = :f"), {"f": marker}).scalar_one()
    store.dispose()
    assert count == 1


def test_a_command_in_a_plain_shell_finds_ups_server_from_the_data_dir(up: Up) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
    env |= {"ALERTFLOW_DATA_DIR": str(up.data), "ALERTFLOW_UP_PREFECT_PORT": str(up.prefect_port)}
    result = subprocess.run(
        [sys.executable, "-m", "alertflow", "playbook-runs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "demo-contain" in result.stdout


def test_the_supervisor_stays_small(up: Up) -> None:
    # It imports no Prefect: 165 MB when it did (the catalog), ~87 MB without.
    rss_mb = psutil.Process(up.process.pid).memory_info().rss / 2**20
    assert rss_mb < 120


def test_sigterm_stops_every_child_cleanly(up: Up) -> None:
    parent = psutil.Process(up.process.pid)
    children = parent.children(recursive=True)
    assert len(children) >= 3  # prefect server, serve runner, ingest worker
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(120) == 0, up.output()
    assert "alertflow stopped" in up.output()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{up.api_url}/health", timeout=5)
