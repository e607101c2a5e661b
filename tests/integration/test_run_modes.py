"""Four of the five run modes against a real Prefect server and a real `serve` runner:
recurring (interval), one-time (RRule COUNT=1), REST create_flow_run, manual CLI run.
(The response-profile mode is tested with the dispatcher; `alertflow up` in test_up.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import migrate
from tests.prefect_http import prefect_call

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
ONCE_IN_S = 30


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 150) -> Any:
    """Poll until `condition()` is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


class Api:
    def __init__(self, server: LocalPrefectServer) -> None:
        self.http = httpx.Client(base_url=server.api_url, timeout=60)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return prefect_call(self.http, method, path, **kwargs)

    def deployment(self, name: str) -> dict[str, Any] | None:
        response = self.call("GET", f"/deployments/name/{name}")
        return response.json() if response.status_code == 200 else None

    def runs(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "limit": 200}
        return self.call("POST", "/flow_runs/filter", json=body).json()

    def completed(self, deployment_id: str) -> list[dict[str, Any]]:
        return [r for r in self.runs(deployment_id) if r["state_type"] == "COMPLETED"]


@pytest.fixture(scope="module")
def served(
    prefect_server: LocalPrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A `serve` process with three test deployments of alert-digest; removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    data = tmp_path_factory.mktemp("run-modes")
    store = f"sqlite:///{data / 'alertflow.db'}"
    migrate.upgrade(store)
    env = {
        **os.environ,
        **prefect_server.client_env(),
        "ALERTFLOW_DATABASE_URL": store,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    log = (data / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.serve_run_modes", tag, str(ONCE_IN_S)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = Api(prefect_server)
    names = {mode: f"alert-digest/{mode}-{tag}" for mode in ("every-3s", "once", "on-demand")}
    try:
        ids = {
            mode: wait_for(lambda n=name: api.deployment(n), f"deployment {name}", 120)["id"]
            for mode, name in names.items()
        }
        yield {"api": api, "ids": ids, "names": names, "env": env, "log": data / "serve.log"}
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(5)
        log.close()
        for name in names.values():  # leave no schedule creating runs on the shared server
            deployment = api.deployment(name)
            if deployment:
                for run in api.runs(deployment["id"]):
                    api.call("DELETE", f"/flow_runs/{run['id']}")
                api.call("DELETE", f"/deployments/{deployment['id']}")


def test_a_short_interval_schedule_creates_runs_that_complete(served: dict[str, Any]) -> None:
    api, deployment_id = served["api"], served["ids"]["every-3s"]
    try:
        done = wait_for(
            lambda: len(api.completed(deployment_id)) >= 2 and api.completed(deployment_id), "2 runs"
        )
    finally:  # free the runner for the other tests: no more interval runs
        api.call("POST", f"/deployments/{deployment_id}/pause_deployment")
        for run in api.runs(deployment_id):
            if run["state_type"] == "SCHEDULED":
                api.call("DELETE", f"/flow_runs/{run['id']}")
    assert all(run["auto_scheduled"] for run in done)
    assert all(run["parameters"] == {"hours": 2} for run in done)


def test_the_one_time_schedule_runs_exactly_once(served: dict[str, Any]) -> None:
    api, deployment_id = served["api"], served["ids"]["once"]
    [run] = wait_for(lambda: api.completed(deployment_id), "the one-time run", ONCE_IN_S + 150)
    assert run["parameters"] == {"hours": 3}
    assert run["auto_scheduled"]
    time.sleep(4)  # one more runner poll and scheduler pass would show a second run
    assert [r["id"] for r in api.runs(deployment_id)] == [run["id"]]


def test_the_rest_call_creates_a_run_with_its_parameters(served: dict[str, Any]) -> None:
    api, deployment_id = served["api"], served["ids"]["on-demand"]
    response = api.call(
        "POST", f"/deployments/{deployment_id}/create_flow_run", json={"parameters": {"hours": 5}}
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        run = api.call("GET", f"/flow_runs/{run_id}").json()
        return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED") else None

    run = wait_for(finished, "the REST-created run")
    assert run["state_type"] == "COMPLETED", served["log"].read_text()[-3000:]
    assert run["parameters"] == {"hours": 5}
    artifacts = api.call(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
    ).json()
    assert any(a["key"] == "alert-digest" for a in artifacts)

    bad = api.call(
        "POST", f"/deployments/{deployment_id}/create_flow_run", json={"parameters": {"hours": "x"}}
    )
    assert bad.status_code == 409


def test_a_manual_cli_run_completes(served: dict[str, Any]) -> None:
    api, deployment_id = served["api"], served["ids"]["on-demand"]
    before = {r["id"] for r in api.runs(deployment_id)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect",
            "deployment",
            "run",
            served["names"]["on-demand"],
            "--param",
            "hours=7",
        ],
        env=served["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    new = wait_for(lambda: [r for r in api.runs(deployment_id) if r["id"] not in before], "the CLI run")
    [run] = new
    assert run["parameters"] == {"hours": 7}
    done = wait_for(
        lambda: [r for r in api.completed(deployment_id) if r["id"] == run["id"]], "the CLI run to complete"
    )
    assert done[0]["state_name"] == "Completed"
