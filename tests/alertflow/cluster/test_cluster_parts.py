"""The pieces of `alertflow cluster` that need no running cluster: settings file, nginx config,
pid files, the crash automations, the prefect.yaml it deploys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alertflow.cluster import nginx
from alertflow.cluster.processes import Process
from alertflow.cluster.settings import ENV_FILE, file_values, load
from alertflow.cluster.topology import app_dir
from alertmodel.errors import ConfigurationError
from response.zombie_runs import (
    NEVER_STARTED_AUTOMATION_NAME,
    ZOMBIE_AUTOMATION_NAME,
    never_started_automation,
    zombie_automation,
)

REPO = Path(__file__).resolve().parents[3]


def test_the_environment_wins_over_the_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "cluster.env"
    env_file.write_text("ALERTFLOW_CLUSTER_INGEST_WORKERS=3\nALERTFLOW_CLUSTER_PREFECT_WORKERS=5\n")
    monkeypatch.setenv("ALERTFLOW_CLUSTER_PREFECT_WORKERS", "4")
    settings = load(env_file)
    assert (settings.ingest_workers, settings.prefect_workers) == (3, 4)
    assert file_values(ENV_FILE)["ALERTFLOW_CLUSTER_WORK_POOL"] == load().work_pool
    with pytest.raises(ConfigurationError, match="no such settings file"):
        file_values(tmp_path / "missing.env")


def test_nginx_accepts_the_load_balancer_config(tmp_path: Path) -> None:
    config = nginx.write_config(tmp_path / "nginx", tmp_path / "logs", 14999, [15001, 15002])
    (tmp_path / "logs").mkdir()
    text = config.read_text()
    assert "server 127.0.0.1:15001 max_fails=1" in text and "server 127.0.0.1:15002" in text
    assert "listen 127.0.0.1:14999;" in text
    result = subprocess.run(
        [nginx.nginx_binary(), "-t", "-c", str(config), "-p", str(config.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_pid_file_finds_its_process_and_not_a_reused_pid(tmp_path: Path) -> None:
    process = Process(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        {},
        tmp_path / "s.log",
        tmp_path / "s.pid",
    )
    pid = process.start()
    assert process.pid() == pid
    good = process.pid_path.read_text()
    process.pid_path.write_text(f"{pid} 1\n")  # same pid, another start time: not ours
    assert process.pid() is None
    process.pid_path.write_text(good)
    assert process.stop(timeout_s=10)
    assert process.pid() is None and not process.pid_path.exists()
    assert not process.stop()


def test_the_crash_automations_are_valid_prefect_automations() -> None:
    from prefect.events.schemas.automations import AutomationCore

    zombie, never_started = (
        AutomationCore.model_validate(a.model_dump(mode="json"))
        for a in (zombie_automation(30), never_started_automation(300))
    )
    assert zombie.name == ZOMBIE_AUTOMATION_NAME and zombie.trigger.within.total_seconds() == 45
    assert zombie.trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}
    assert (
        never_started.name == NEVER_STARTED_AUTOMATION_NAME
        and never_started.trigger.within.total_seconds() == 300
    )
    assert "prefect.flow-run.Running" in never_started.trigger.expect
    assert [a.type for a in zombie.actions] == ["change-flow-run-state"]


def test_the_deployed_prefect_yaml_runs_flows_from_this_installation() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "deployments.export", "--directory", str(app_dir())],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    document = yaml.safe_load(out)
    assert document["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(app_dir())}}
    ]
    assert (app_dir() / "flows" / "yaml_playbook.py").is_file()
    published = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert document["deployments"] == published["deployments"]
