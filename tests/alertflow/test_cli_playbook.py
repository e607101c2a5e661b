from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alertflow.cli.main import app
from alertflow.cli.playbook import parse_params
from alertflow.up.prefect_server import LocalPrefectServer, free_port

runner = CliRunner()


def test_params_are_read_as_yaml_scalars() -> None:
    assert parse_params(["n=5", "ips=[1.2.3.4, 5.6.7.8]", "s=hello", "empty="]) == {
        "n": 5,
        "ips": ["1.2.3.4", "5.6.7.8"],
        "s": "hello",
        "empty": "",
    }


def test_validate_accepts_the_demo_playbook() -> None:
    result = runner.invoke(app, ["playbook", "validate", "flows/playbooks/demo-contain.yaml"])
    assert result.exit_code == 0, result.output
    assert (
        "playbook demo-contain is valid (4 jobs: related_alerts, write_report, run_script, run_script)"
        in result.output
    )


def test_validate_refuses_a_broken_playbook_with_file_job_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\njobs:\n  - {name: s, type: run_script, blocks: {hosts: h}, params: {comand: [id]}}\n"
    )
    result = runner.invoke(app, ["playbook", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}: job 0 (s): params.comand: task run_script has no parameter 'comand'" in result.output


def test_run_refuses_without_a_prefect_server_rather_than_starting_a_temporary_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"ALERTFLOW_DATA_DIR": str(tmp_path), "ALERTFLOW_UP_PREFECT_PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "alertflow", "playbook", "run", "flows/playbooks/demo-contain.yaml"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "no Prefect server answers at http://127.0.0.1:" in result.stderr


def test_run_with_an_undeclared_param_is_refused() -> None:
    result = runner.invoke(
        app, ["playbook", "run", "flows/playbooks/demo-contain.yaml", "--param", "hostblock=x"]
    )
    assert result.exit_code == 2
    assert "unknown parameter(s) hostblock (declared: host_block, window_hours)" in result.output


@pytest.mark.integration
def test_a_manual_cli_run_of_a_yaml_playbook_completes_on_a_real_host(
    prefect_server: LocalPrefectServer, ssh_hosts: Any, tmp_path: Path
) -> None:
    block = f"cli-host-{uuid.uuid4().hex[:8]}"
    ssh_hosts.profile(1).save(block)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alertflow",
            "playbook",
            "run",
            "flows/playbooks/demo-contain.yaml",
            "--param",
            f"host_block={block}",
        ],
        env={**os.environ, **prefect_server.client_env(), "ALERTFLOW_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seen-before              related_alerts       completed" in result.stdout
    assert "report                   write_report         failed" in result.stdout  # no alert to report on
    assert "inspect                  run_script           completed" in result.stdout
    assert (
        "record-attacker          run_script           failed" in result.stdout
    )  # no alert: undefined srcip
    assert "playbook demo-contain: completed_with_errors" in result.stdout
