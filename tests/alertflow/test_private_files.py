"""What the CLI creates is private (umask 0o077); `up` refuses a data dir others can open."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertflow.up.prefect_server import free_port
from tests.other_user import not_private, open_parent, readable_by_other_user

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def parent() -> Iterator[Path]:
    path = open_parent()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def alertflow(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
    env |= {
        "ALERTFLOW_DATA_DIR": str(data),
        "ALERTFLOW_UP_PREFECT_PORT": str(free_port()),
        "ALERTFLOW_UP_INGEST_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "alertflow", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_data_dir_made_by_the_cli_is_private(parent: Path) -> None:
    os.umask(old := os.umask(0o022))  # the shell's usual umask
    try:
        data = parent / "data"
        result = alertflow(data, "db", "upgrade")
        assert result.returncode == 0, result.stderr
    finally:
        os.umask(old)
    assert not_private(data) == []
    assert readable_by_other_user(data) == []


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701])
def test_up_refuses_a_data_dir_others_can_open_and_prints_the_fix(parent: Path, mode: int) -> None:
    data = parent / "data dir"
    data.mkdir(mode)
    data.chmod(mode)
    result = alertflow(data, "up", "--no-ui")
    assert result.returncode == 1
    assert f"is open to other users (mode {mode:o})" in result.stdout
    assert f"run `chmod -R go-rwx '{data}'`" in result.stdout
    assert list(data.iterdir()) == []  # nothing started, nothing written
