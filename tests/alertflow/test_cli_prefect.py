"""Commands reach Prefect at `alertflow up`'s server or PREFECT_API_URL's, never at a temporary
one; the entry point turns Prefect's telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from alertflow.up.prefect_server import LocalPrefectServer, free_port
from alertmodel import migrate

REPO = Path(__file__).resolve().parents[2]


def plain_shell_env(data_dir: Path, prefect_home: Path) -> dict[str, str]:
    """A shell with no Prefect settings, a data dir of its own and an `up` port nothing listens on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_", "DO_NOT"))}
    return env | {
        "ALERTFLOW_DATA_DIR": str(data_dir),
        "ALERTFLOW_UP_PREFECT_PORT": str(free_port()),
        "PREFECT_HOME": str(prefect_home),
    }


def alertflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alertflow", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["playbook-runs"],
        ["dispatch", "--once"],
        ["blocks", "register"],
        ["ingest", "--source", "file:events.jsonl"],
        ["playbook", "run", "flows/playbooks/demo-contain.yaml"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_without_a_server_a_command_refuses_and_starts_no_temporary_one(
    command: list[str], tmp_path: Path
) -> None:
    data, home = tmp_path / "data", tmp_path / "prefect-home"
    home.mkdir()
    migrate.upgrade(f"sqlite:///{data / 'alertflow.db'}")
    env = plain_shell_env(data, home)
    result = alertflow(*command, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    port = env["ALERTFLOW_UP_PREFECT_PORT"]
    assert f"error: no Prefect server answers at http://127.0.0.1:{port}/api: start `alertflow up`" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    # A temporary server would have made its database in PREFECT_HOME.
    assert list(home.iterdir()) == []


def test_ingest_names_the_way_out_without_a_dispatcher(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "prefect-home"
    migrate.upgrade(f"sqlite:///{data / 'alertflow.db'}")
    result = alertflow("ingest", "--source", "file:x.jsonl", env=plain_shell_env(data, home))
    assert result.returncode == 2
    assert "or pass --no-dispatch" in result.stderr


def test_playbook_runs_refreshes_states_from_the_server_in_prefect_api_url(
    prefect_server: LocalPrefectServer, tmp_path: Path
) -> None:
    data, home = tmp_path / "data", tmp_path / "prefect-home"
    migrate.upgrade(f"sqlite:///{data / 'alertflow.db'}")
    env = plain_shell_env(data, home) | prefect_server.client_env()
    result = alertflow("playbook-runs", env=env)
    assert result.returncode == 0, result.stderr
    assert not home.exists() or list(home.glob("*.db")) == []


def test_the_entry_point_turns_telemetry_and_temporary_servers_off(tmp_path: Path) -> None:
    env = plain_shell_env(tmp_path, tmp_path)
    script = (
        "import os, sys\n"
        "sys.argv = ['alertflow', 'version']\n"
        "from alertflow.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('PREFECT_SERVER_ANALYTICS_ENABLED'), os.environ.get('DO_NOT_TRACK'),"
        " os.environ.get('PREFECT_SERVER_EPHEMERAL_ENABLED'), 'prefect' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "false 1 false False", result.stderr


def test_the_cli_the_up_supervisor_and_a_stack_import_no_prefect(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "import alertflow.cli.main\n"
        "from alertmodel.settings import Settings\n"
        "from alertflow.up.settings import UpSettings\n"
        "from alertflow.up.supervisor import Stack\n"
        "stack = Stack(Settings(), UpSettings())\n"
        "stack.client_env()\n"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=plain_shell_env(tmp_path, tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
