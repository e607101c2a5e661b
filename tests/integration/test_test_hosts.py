"""scripts/test-hosts.sh: concurrent runs get their own hosts, and stop ends only their own sshd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "scripts/test-hosts.sh")

pytestmark = pytest.mark.integration


def _start(directory: Path) -> dict:
    subprocess.run(
        ["bash", SCRIPT, "start", str(directory), "3"], check=True, capture_output=True, timeout=120
    )
    return json.loads((directory / "inventory.json").read_text())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_two_concurrent_runs_get_distinct_hosts_and_stop_only_their_own() -> None:
    dirs = [Path(tempfile.mkdtemp(prefix="alertflow-hosts-t-")) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(_start, dirs)
        hosts = first["hosts"] + second["hosts"]
        assert len({(h["address"], h["port"]) for h in hosts}) == 6
        assert len({h["host_public_key"] for h in hosts}) == 6
        assert all(h["address"].startswith("127.") for h in hosts)
        assert first["key_path"] != second["key_path"]

        subprocess.run(["bash", SCRIPT, "stop", str(dirs[0])], check=True, capture_output=True, timeout=60)
        for host in first["hosts"]:
            for _ in range(50):
                if not _alive(host["pid"]):
                    break
                time.sleep(0.1)  # SIGTERM was sent; this only waits for sshd to exit
            assert not _alive(host["pid"])
        assert all(_alive(h["pid"]) for h in second["hosts"])
    finally:
        for directory in dirs:
            subprocess.run(["bash", SCRIPT, "stop", str(directory)], capture_output=True, timeout=60)
            shutil.rmtree(directory, ignore_errors=True)


def test_start_refuses_a_count_that_is_not_a_number(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", SCRIPT, "start", str(tmp_path), "x"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "N must be a positive number" in proc.stderr
    assert not os.path.exists(tmp_path / "inventory.json")
