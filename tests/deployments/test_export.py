from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from alertflow.up.prefect_server import LocalPrefectServer
from deployments.catalog import all_deployments
from deployments.export import WORK_POOL, file_entrypoint, render

REPO = Path(__file__).resolve().parents[2]


def test_prefect_yaml_is_the_current_export_of_the_catalog() -> None:
    assert (REPO / "prefect.yaml").read_text() == render(), "run: python -m deployments.export > prefect.yaml"


def test_module_entrypoints_become_file_entrypoints() -> None:
    assert file_entrypoint("flows.alert_digest.alert_digest") == "flows/alert_digest.py:alert_digest"


@pytest.mark.integration
def test_prefect_deploy_accepts_prefect_yaml_and_keeps_parameters_and_schedules(
    prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    env = {**os.environ, **prefect_server.client_env(), "PREFECT_HOME": str(tmp_path)}

    def prefect(*args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    prefect("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
    prefect("--no-prompt", "deploy", "--all")
    http = httpx.Client(base_url=prefect_server.api_url, timeout=120)
    try:
        for deployment in all_deployments():
            stored = http.get(f"/deployments/name/{deployment.flow_name}/{deployment.name}").json()
            assert stored["work_pool_name"] == WORK_POOL
            assert stored["parameters"] == deployment.parameters
            assert stored["entrypoint"] == file_entrypoint(deployment.entrypoint or "")
            assert [s["schedule"] for s in stored["schedules"]] == [
                s.schedule.model_dump(mode="json") for s in deployment.schedules or []
            ]
            assert [s["parameters"] for s in stored["schedules"]] == [
                s.parameters for s in deployment.schedules or []
            ]
    finally:
        for deployment in all_deployments():
            found = http.get(f"/deployments/name/{deployment.flow_name}/{deployment.name}")
            if found.status_code == 200:
                http.delete(f"/deployments/{found.json()['id']}")
        http.delete(f"/work_pools/{WORK_POOL}")
        http.close()


def test_every_deployment_of_the_catalog_has_a_distinct_name() -> None:
    names = [f"{d.flow_name}/{d.name}" for d in all_deployments()]
    assert len(names) == len(set(names))
    assert "yaml-playbook/demo-contain" in names
    assert yaml.safe_load(render())["deployments"]
