"""What the end-to-end benchmarks share: `alertflow up` on a fresh data dir, a loopback sshd
host (scripts/test-hosts.sh) and an IdsSensor block saved to up's Prefect server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from alertflow.up.prefect_server import free_port  # noqa: E402


class Up:
    """`alertflow up --no-ui` on a fresh data dir."""

    def __init__(self, data: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data = data
        self.prefect_port, self.ingest_port, self.api_port = free_port(), free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
        self.env |= {
            "ALERTFLOW_DATA_DIR": str(data),
            "ALERTFLOW_UP_PREFECT_PORT": str(self.prefect_port),
            "ALERTFLOW_UP_INGEST_PORT": str(self.ingest_port),
            "ALERTFLOW_UP_API_PORT": str(self.api_port),
            # free ports, so benches (and an `up` someone runs) can share the machine
            "ALERTFLOW_UP_METRICS_PORT": str(free_port()),
            "ALERTFLOW_UP_FORWARD_METRICS_PORT": str(free_port()),
            "ALERTFLOW_UP_READY_TIMEOUT_S": "280",
            "DO_NOT_TRACK": "1",
        }
        self.env |= extra_env or {}
        self.log = data.parent / "up.out"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alertflow", "up", "--no-ui"],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 300
        while "alertflow is up" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alertflow up did not start:\n{self.output()[-3000:]}")
            time.sleep(0.5)
        user, _, password = (data / "prefect-auth").read_text().strip().partition(":")
        self.prefect = httpx.Client(
            base_url=f"http://127.0.0.1:{self.prefect_port}/api", auth=(user, password), timeout=60
        )
        token = (data / "ingest-token").read_text().strip()
        self.ingest = httpx.Client(
            base_url=f"http://127.0.0.1:{self.ingest_port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "alertflow", *args],
            cwd=REPO,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"alertflow {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def child_pid(self, role: str) -> int | None:
        """The pid of up's long-lived child in `role` (ingest, serve, api, prefect), None while it is down."""
        import psutil

        needles = {
            "ingest": "alertflow ingest",
            "serve": "deployments.serve --limit",
            "api": "alertflow api",
            "prefect": "server start --host",
        }
        for process in psutil.Process(self.process.pid).children(recursive=True):
            try:
                line = " ".join(process.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if needles[role] in line and process.status() != psutil.STATUS_ZOMBIE:
                return process.pid
        return None

    def finished_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        body = {
            "deployments": {"id": {"any_": [deployment_id]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"]}}},
            "limit": 200,
        }
        response = self.prefect.post("/flow_runs/filter", json=body)
        response.raise_for_status()
        return list(response.json())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@contextmanager
def ssh_host(directory: Path) -> Iterator[dict[str, Any]]:
    """One loopback sshd host for the block; its inventory (user, key, address, root directory)."""
    script = str(REPO / "scripts/test-hosts.sh")
    subprocess.run(["bash", script, "start", str(directory), "1"], check=True, stdout=subprocess.DEVNULL)
    try:
        yield json.loads((directory / "inventory.json").read_text())
    finally:
        subprocess.run(["bash", script, "stop", str(directory)], check=False, stdout=subprocess.DEVNULL)


def save_sensor_block(up: Up, inventory: dict[str, Any], blocklist: Path, check: list[str]) -> None:
    """The IdsSensor block `default` (the deployment's sensor), saved to up's Prefect server."""
    host = inventory["hosts"][0]
    script = """
import json, sys
from pathlib import Path
from blocks.credentials import CredentialProfile
from blocks.host import HostProfile
from blocks.ids import IdsSensor
spec = json.loads(sys.stdin.read())
host = spec["host"]
profile = HostProfile(
    name=host["name"], address=host["address"], port=host["port"],
    credential=CredentialProfile(username=host["user"], private_key=Path(host["key_path"]).read_text()),
    known_host_keys=[host["host_public_key"]],
)
IdsSensor(host=profile, kind="suricata", blocklist_path=spec["blocklist"],
          blocklist_check_command=spec["check"]).save("default", overwrite=True)
"""
    client_env = {
        "PREFECT_API_URL": str(up.prefect.base_url).rstrip("/"),
        "PREFECT_API_AUTH_STRING": (up.data / "prefect-auth").read_text().strip(),
    }
    spec = {"host": host, "blocklist": str(blocklist), "check": check}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**up.env, **client_env},
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"saving the IdsSensor block failed: {done.stderr[-3000:]}")
