"""`alertflow cluster` on a private data dir, free ports, its own databases, queue and Redis db:
what the cluster test and bench/scale.py share (start, kill -9 a part, alerts over STOMP,
flow runs read back through the load balancer)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import stomp
from sqlalchemy import Engine, text

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from alertflow.cluster import provision  # noqa: E402
from alertflow.cluster.settings import ClusterSettings  # noqa: E402
from alertflow.cluster.topology import Cluster  # noqa: E402
from alertmodel.engine import make_engine  # noqa: E402
from alertmodel.settings import Settings  # noqa: E402

MATCHING_SIGNATURE, OTHER_SIGNATURE = 9000001, 9000002  # the demo profile runs demo-contain on the first
PLAYBOOK = "yaml-playbook/demo-contain"
DEMO_PROFILES = REPO / "alertflow" / "up" / "demo" / "profiles.yaml"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + count < 65000 and all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no run of free ports")


def scale_event(n: int, tag: str, matching: bool) -> bytes:
    """A distinct Suricata alert; `matching` ones fire the demo response profile."""
    event = {
        "timestamp": "2026-11-23T09:00:01.000000+0000",
        "flow_id": n,
        "event_type": "alert",
        "src_ip": f"198.18.{n // 250 % 250}.{n % 250 + 1}",
        "src_port": 1024 + n % 60000,
        "dest_ip": "192.0.2.10",
        "dest_port": 22,
        "proto": "TCP",
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": MATCHING_SIGNATURE if matching else OTHER_SIGNATURE,
            "rev": 1,
            "signature": f"scale test {tag}",
            "category": "Attempted Administrator Privilege Gain",
            "severity": 1,
        },
        "host": f"sensor-{tag}",
    }
    return json.dumps(event).encode()


class LocalCluster:
    """One `alertflow cluster` for a test or a benchmark; `up()`, then `down()` (drops its databases)."""

    def __init__(
        self,
        root: Path,
        *,
        redis_db: int,
        ingest_workers: int = 2,
        prefect_workers: int = 2,
        start_timeout_s: int = 300,
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.root = root
        base = free_ports(3)
        self.settings = ClusterSettings(
            data_dir=root / "cluster",
            ingest_workers=ingest_workers,
            api_servers=2,
            prefect_workers=prefect_workers,
            stomp_queue=f"/queue/alertflow-cluster-{tag}",
            lb_port=base,
            prefect_port_base=base + 1,
            api_port=free_ports(1),
            metrics_port_base=free_ports(ingest_workers),
            worker_health_port_base=free_ports(prefect_workers),
            prefect_database=f"af_prefect_{tag}",
            alert_database=f"af_alerts_{tag}",
            redis_url=f"redis://127.0.0.1:6379/{redis_db}",
            start_timeout_s=start_timeout_s,
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
        self.env |= {"ALERTFLOW_DATA_DIR": str(root / "data"), "PYTHONPATH": str(REPO), "DO_NOT_TRACK": "1"}
        admin_urls = {"postgres_admin_url", "mariadb_admin_url"}  # the defaults; SecretStr dumps masked
        for name, value in self.settings.model_dump(mode="json", exclude=admin_urls).items():
            self.env[f"ALERTFLOW_CLUSTER_{name.upper()}"] = str(value)
        self.cluster = Cluster(Settings(data_dir=root / "data"), self.settings)
        self._engine: Engine | None = None

    def cli(self, *args: str, timeout_s: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "alertflow", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"alertflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def up(self) -> float:
        """Start the cluster and import the demo response profile; seconds until it was up."""
        root = self.root / "cluster"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        started = time.monotonic()
        subprocess.run(
            ["redis-cli", "-n", self.settings.redis_url.rsplit("/", 1)[1], "flushdb"],
            check=True,
            capture_output=True,
        )
        self.cli("cluster", "up")
        took = time.monotonic() - started
        self.cluster.load_secrets()
        subprocess.run(
            [sys.executable, "-m", "alertflow", "profiles", "import", str(DEMO_PROFILES)],
            cwd=REPO,
            env=self.cluster.client_env(),
            check=True,
            capture_output=True,
        )
        return took

    def down(self) -> None:
        with contextlib.suppress(Exception):
            self.cli("cluster", "down", timeout_s=120)
        if self._engine is not None:
            self._engine.dispose()
        admin = self.settings
        with contextlib.suppress(Exception):
            provision.drop_postgres(admin.postgres_admin_url.get_secret_value(), admin.prefect_database)
        with contextlib.suppress(Exception):
            provision.drop_mariadb(admin.mariadb_admin_url.get_secret_value(), admin.alert_database)

    def status(self) -> dict[str, dict[str, Any]]:
        out = self.cli("cluster", "status", "--json", check=False).stdout
        return {s["name"]: s for s in map(json.loads, out.splitlines())}

    def kill(self, name: str) -> int:
        """kill -9 a part with its process group and every process below it (a worker's flow runs
        run in their own sessions); returns how many processes died."""
        pid = int((self.settings.data_dir / "run" / f"{name}.pid").read_text().split()[0])  # type: ignore[operator]
        victims = [pid, *_descendants(pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        return len(victims)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.cluster.client_env()["ALERTFLOW_DATABASE_URL"])
        return self._engine

    def stored(self) -> tuple[int, int]:
        """(alert rows, distinct alert_uuids)."""
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT alert_uuid) FROM alert")).one()
        return int(row[0]), int(row[1])

    def publish(self, bodies: list[bytes], per_second: float | None = None) -> None:
        """Persistent messages to the cluster's queue, at most `per_second` when given."""
        conn = stomp.Connection12([(self.settings.stomp_host, self.settings.stomp_port)])
        conn.connect(wait=True)
        started = time.monotonic()
        try:
            for i, body in enumerate(bodies):
                if per_second:
                    time.sleep(max(0.0, started + i / per_second - time.monotonic()))
                conn.send(self.settings.stomp_queue, body, headers={"persistent": "true"})
        finally:
            conn.disconnect(receipt="published")

    def prefect(self) -> httpx.Client:
        user, _, password = self.cluster.auth_string.partition(":")
        return httpx.Client(base_url=self.settings.lb_api_url, auth=(user, password), timeout=60)

    def flow_runs(self, client: httpx.Client, deployment: str = PLAYBOOK) -> list[dict[str, Any]]:
        """Every flow run of `deployment` (through the load balancer).

        The filter is a read sent as POST, and nginx does not pass a POST on to the other server
        once the one it went to dies with it (502): being a read, it is simply asked again.
        """
        deployment_id = client.get(f"/deployments/name/{deployment}").raise_for_status().json()["id"]
        runs: list[dict[str, Any]] = []
        while True:
            body = {
                "deployments": {"id": {"any_": [deployment_id]}},
                "limit": 200,
                "offset": len(runs),
                "sort": "ID_DESC",
            }
            for attempt in range(5):
                response = client.post("/flow_runs/filter", json=body)
                if response.status_code != 502 or attempt == 4:
                    break
                time.sleep(0.5)
            page = response.raise_for_status().json()
            runs += page
            if len(page) < 200:
                return runs


def alert_of(run: dict[str, Any]) -> str:
    """The alert_uuid a playbook run was started for."""
    return str(run["parameters"]["alert"]["alert_uuid"])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rpartition(")")[2].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
