"""The parts of the native cluster, in start order, and `up` / `down` / `status` over them.

`up` provisions the databases, migrates the alert store, upgrades Prefect's schema once, starts
the API servers, the services process and the load balancer, creates the work pool and the
automation that marks runs without heartbeats Crashed, registers the blocks and deploys
prefect.yaml (with the pull step pointing at this installation), then starts the Prefect
workers, the ingest workers and the REST API, and returns once every part answers. Parts that
already run are left alone, so `up` also restarts what died.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from alertflow.cluster import nginx
from alertflow.cluster.processes import Process
from alertflow.cluster.provision import ensure_mariadb, ensure_postgres, mariadb_url, postgres_url
from alertflow.cluster.settings import ENV_FILE, ClusterSettings, file_values
from alertflow.cluster.work_pool import TEMPLATE_PATH, ensure_process_pool
from alertflow.up.api_access import ensure_api_admin, ensure_api_certificate
from alertflow.up.prefect_api import PrefectApi
from alertflow.up.prefect_server import vacuum_env
from alertflow.up.secret_files import ensure_auth_string, ensure_password, ensure_private_dir
from alertflow.up.supervisor import TELEMETRY_OFF_ENV
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.errors import AlertflowError
from alertmodel.settings import Settings
from response.zombie_runs import never_started_automation, zombie_automation


def app_dir() -> Path:
    """The directory holding the `flows` package: a checkout or the installed site-packages."""
    spec = importlib.util.find_spec("flows")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[1]


@dataclass(frozen=True)
class Part:
    """A process of the cluster and how to tell it is healthy."""

    process: Process
    where: str
    health: Callable[[], bool]

    @property
    def name(self) -> str:
        return self.process.name

    def state(self) -> dict[str, Any]:
        pid = self.process.pid()
        healthy = pid is not None and self.health()
        return {
            "name": self.name,
            "pid": pid,
            "healthy": healthy,
            "where": self.where,
            "log": str(self.process.log_path),
        }


@dataclass
class Cluster:
    """The native cluster described by `settings` (the alert store's) and `cluster`."""

    settings: Settings
    cluster: ClusterSettings
    env_file: Path = ENV_FILE
    echo: Callable[[str], None] = print
    _secrets: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return (self.cluster.data_dir or self.settings.data_dir.expanduser() / "cluster").resolve()

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def auth_string(self) -> str:
        return ensure_auth_string(self.data_dir)

    # -- environments ---------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING")}
        for name, value in {**file_values(self.env_file), **TELEMETRY_OFF_ENV}.items():
            env.setdefault(name, value)
        if "ALERTFLOW_PREFECT_RETAIN_FLOW_RUNS_DAYS" in os.environ:  # `up`'s retention setting wins
            env.update(vacuum_env(self.settings.prefect_retain_flow_runs_days))
        env["PREFECT_HOME"] = str(self.data_dir / "prefect")
        env["ALERTFLOW_DATA_DIR"] = str(self.data_dir)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(app_dir()), os.environ.get("PYTHONPATH")) if p)
        return env

    def server_env(self) -> dict[str, str]:
        """A Prefect API server's or the services process's environment."""
        env = self._base_env()
        env |= {
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": self._secrets["prefect_db_url"],
            "PREFECT_SERVER_API_AUTH_STRING": self.auth_string,
            "PREFECT_REDIS_MESSAGING_URL": self.cluster.redis_url,
            "PREFECT_SERVER_DOCKET_URL": self.cluster.redis_url,
            "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",  # `up` upgrades once, first
            "PREFECT_UI_API_URL": self.cluster.lb_api_url,
        }
        return env

    def client_env(self) -> dict[str, str]:
        """The environment of every process that talks to Prefect through the load balancer."""
        env = self._base_env()
        env |= {
            "PREFECT_API_URL": self.cluster.lb_api_url,
            "PREFECT_API_AUTH_STRING": self.auth_string,
            "ALERTFLOW_DATABASE_URL": self._secrets["alert_db_url"],
        }
        return env

    # -- parts ----------------------------------------------------------------------------
    def _process(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        return Process(
            name, argv, env, self.log_dir / f"{name}.log", self.run_dir / f"{name}.pid", cwd=app_dir()
        )

    def parts(self) -> list[Part]:
        """Every part in start order (environments are filled only by `up`)."""
        c, python = self.cluster, sys.executable
        server_env = self.server_env() if self._secrets else {}
        client_env = self.client_env() if self._secrets else {}
        parts: list[Part] = []
        for i in range(c.api_servers):
            port = c.prefect_port_base + i
            argv = [python, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
            url = f"http://127.0.0.1:{port}/api"
            parts.append(
                Part(
                    self._process(f"prefect-api-{i + 1}", [*argv, "--no-services"], server_env),
                    url,
                    lambda url=url: self._prefect_healthy(url),
                )
            )
        services = [python, "-m", "prefect", "server", "services", "start"]
        parts.append(Part(self._process("prefect-services", services, server_env), "(no port)", lambda: True))
        config = self.data_dir / "nginx" / "nginx.conf"
        parts.append(
            Part(
                self._process("lb", nginx.argv(config), {**os.environ}),
                c.lb_api_url,
                lambda: self._prefect_healthy(c.lb_api_url),
            )
        )
        for i in range(c.prefect_workers):
            port = c.worker_health_port_base + i
            argv = [python, "-m", "prefect", "worker", "start", "--pool", c.work_pool, "--type", "process"]
            argv += ["--base-job-template", str(TEMPLATE_PATH)]  # as compose's; the pool exists already
            argv += [
                "--name",
                f"cluster-worker-{i + 1}",
                "--limit",
                str(c.worker_limit),
                "--with-healthcheck",
            ]
            env = {**client_env, "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1"}
            env["PREFECT_WORKER_WEBSERVER_PORT"] = str(port)
            url = f"http://127.0.0.1:{port}/health"
            parts.append(
                Part(self._process(f"prefect-worker-{i + 1}", argv, env), url, lambda url=url: _answers(url))
            )
        for i in range(c.ingest_workers):
            port = c.metrics_port_base + i
            argv = [python, "-m", "alertflow", "ingest", "--source", c.stomp_source]
            argv += ["--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
            url = f"http://127.0.0.1:{port}/metrics"
            parts.append(
                Part(self._process(f"ingest-{i + 1}", argv, client_env), url, lambda url=url: _answers(url))
            )
        certfile, keyfile = self.data_dir / "api-cert.pem", self.data_dir / "api-key.pem"
        argv = [python, "-m", "alertflow", "api", "--host", "127.0.0.1", "--port", str(c.api_port)]
        argv += ["--tls-cert", str(certfile), "--tls-key", str(keyfile)]
        parts.append(
            Part(self._process("api", argv, client_env), c.api_url, lambda: self._api_answers(certfile))
        )
        return parts

    def _prefect_healthy(self, api_url: str) -> bool:
        with PrefectApi(api_url, self.auth_string, timeout_s=3) as api:
            return api.healthy()

    def _api_answers(self, certfile: Path) -> bool:
        """The REST API answers over TLS with the cluster's certificate (401 without a password)."""
        try:
            verify = ssl.create_default_context(cafile=str(certfile))
            response = httpx.get(f"{self.cluster.api_url}/api/v1/health", timeout=3, verify=verify)
        except (httpx.HTTPError, OSError):
            return False
        return response.status_code == 401

    # -- commands -------------------------------------------------------------------------
    def up(self) -> None:
        """Start every part that does not run yet and wait until each is healthy."""
        deadline = time.monotonic() + self.cluster.ready_timeout_s
        ensure_private_dir(self.data_dir)
        self._provision()
        by_name = {part.name: part for part in self.parts()}
        servers = [p for n, p in by_name.items() if n.startswith("prefect-api-")]
        if not any(part.process.pid() for part in servers):
            self._oneshot(
                "prefect-db-upgrade",
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                self.server_env(),
                deadline,
            )
        nginx.write_config(
            self.data_dir / "nginx",
            self.log_dir,
            self.cluster.lb_port,
            [self.cluster.prefect_port_base + i for i in range(self.cluster.api_servers)],
        )
        # Each server adds Prefect's block types at start: one at a time, or they collide.
        for server in servers:
            self._start([server])
            self._wait([server], deadline)
        first = [*servers, by_name["prefect-services"], by_name["lb"]]
        self._start(first)
        self._wait(first, deadline)
        self._prepare_prefect()
        prefect_yaml = self.data_dir / "prefect.yaml"
        with prefect_yaml.open("w", encoding="utf-8") as out:
            self._oneshot(
                "deployments-export",
                [sys.executable, "-m", "deployments.export", "--directory", str(app_dir())],
                self.client_env(),
                deadline,
                stdout=out,
            )
        self._oneshot(
            "blocks-register",
            [sys.executable, "-m", "alertflow", "blocks", "register"],
            self.client_env(),
            deadline,
        )
        deploy = [
            sys.executable,
            "-m",
            "prefect",
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(prefect_yaml),
        ]
        self._oneshot("deploy", deploy, self.client_env(), deadline)
        rest = [part for part in by_name.values() if part not in first]
        self._start(rest)
        self._wait(rest, deadline)

    def load_secrets(self) -> Cluster:
        """The databases' URLs with the passwords kept in the data dir (made on first use)."""
        c = self.cluster
        pg_password = ensure_password(self.data_dir / "postgres-password")
        db_password = ensure_password(self.data_dir / "mariadb-password")
        admin_pg, admin_db = c.postgres_admin_url.get_secret_value(), c.mariadb_admin_url.get_secret_value()
        self._secrets["prefect_db_url"] = postgres_url(admin_pg, c.prefect_database, pg_password)
        self._secrets["alert_db_url"] = mariadb_url(admin_db, c.alert_database, db_password)
        self._secrets["pg_password"], self._secrets["db_password"] = pg_password, db_password
        return self

    def _provision(self) -> None:
        c = self.cluster
        self.load_secrets()
        ensure_postgres(
            c.postgres_admin_url.get_secret_value(), c.prefect_database, self._secrets["pg_password"]
        )
        ensure_mariadb(c.mariadb_admin_url.get_secret_value(), c.alert_database, self._secrets["db_password"])
        alert_url = self._secrets["alert_db_url"]
        migrate.upgrade(alert_url)
        ensure_api_certificate(self.data_dir)
        engine = make_engine(alert_url)
        try:
            ensure_api_admin(engine, self.data_dir)
        finally:
            engine.dispose()

    def _prepare_prefect(self) -> None:
        """The process work pool and the automations that end the runs of a worker that died."""
        with PrefectApi(self.cluster.lb_api_url, self.auth_string, timeout_s=30) as api:
            ensure_process_pool(api, self.cluster.work_pool, sys.executable)
            existing = {a["name"] for a in api.request("POST", "/automations/filter", json={"limit": 200})}
            heartbeat_s = int(self._base_env().get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30"))
            for automation in (
                zombie_automation(max(heartbeat_s, 30)),
                never_started_automation(self.cluster.start_timeout_s),
            ):
                if automation.name not in existing:
                    api.request("POST", "/automations/", json=automation.model_dump(mode="json"))

    def _oneshot(
        self, name: str, argv: list[str], env: dict[str, str], deadline: float, stdout: Any = None
    ) -> None:
        log_path = self.log_dir / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            try:
                code = subprocess.run(
                    argv,
                    env=env,
                    cwd=app_dir(),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout or log,
                    stderr=log,
                    timeout=max(deadline - time.monotonic(), 1),
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                raise AlertflowError(f"`{name}` did not finish in time; see {log_path}") from None
        if code != 0:
            raise AlertflowError(f"`{name}` exited {code}; see {log_path}")

    def _start(self, parts: list[Part]) -> None:
        for part in parts:
            if part.process.pid() is None:
                part.process.start()
                self.echo(f"started {part.name}")

    def _wait(self, parts: list[Part], deadline: float) -> None:
        waiting = list(parts)
        while waiting:
            for part in list(waiting):
                if part.process.pid() is None:
                    raise AlertflowError(
                        f"{part.name} exited; see {part.process.log_path}:\n{part.process.log_tail()}"
                    )
                if part.health():
                    waiting.remove(part)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(p.name for p in waiting)
                raise AlertflowError(f"not healthy in time: {names}; see {self.log_dir}")
            time.sleep(0.5)

    def down(self) -> list[str]:
        """Stop every part, last started first; the names of those that ran."""
        return [part.name for part in reversed(self.parts()) if part.process.stop()]

    def status(self) -> list[dict[str, Any]]:
        return [part.state() for part in self.parts()]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False
