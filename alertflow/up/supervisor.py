"""`alertflow up`'s supervisor: starts every part as a child process, watches them, stops them.

Order of start: the alert store is migrated; a local Prefect server (SQLite in the data dir,
API auth on) starts unless PREFECT_API_URL points to one; block types are registered; all
deployments are served; the ingest worker and the dispatcher start; the forwarders
(`alertflow forward`: every saved forwarder block, picked up within 30 s) start; the REST API
(`alertflow api`) serves HTTPS on 127.0.0.1 with a self-signed certificate. Stop (Ctrl-C or
SIGTERM) goes in reverse so the ingest worker drains before anything it feeds goes away.

Alerts come in over HTTP (`POST /ingest` with the bearer token kept in the data dir) and
through the drop directory (`alertflow.up.drop_directory`). `--demo` imports the demo
response profile and posts the bundled demo events.

While up, the supervisor skips auto-scheduled runs that are more than `late_grace_s` late
(see `alertflow.up.late_runs`): the embedded server has Prefect's late-runs service off.

The supervisor imports no Prefect (it would hold ~100 MB for the whole life of `up`): what
it needs from Prefect it gets from its children (the deployment names) or over REST.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from alertflow.up import demo
from alertflow.up.api_access import API_ADMIN, ensure_api_admin, ensure_api_certificate
from alertflow.up.drop_directory import DropDirectory
from alertflow.up.late_runs import skip_late_runs
from alertflow.up.orphan_runs import reschedule_crashed_runs, reschedule_orphaned_runs
from alertflow.up.prefect_api import PrefectApi
from alertflow.up.prefect_server import LocalPrefectServer, vacuum_env
from alertflow.up.secret_files import (
    AUTH_FILE,
    INGEST_TOKEN_FILE,
    ensure_auth_string,
    ensure_ingest_token,
    ensure_private_dir,
)
from alertflow.up.settings import UpSettings, url_host
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.errors import AlertflowError, IntegrationError
from alertmodel.settings import Settings, mask_url

# The scheduler keeps at most this many future runs per deployment (Prefect's default is 100):
# fewer Scheduled rows for SQLite to walk; a short-interval schedule still has runs ahead.
EMBEDDED_SCHEDULER_ENV = {"PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "10"}

# A child that crashes is started again after these delays (s), one per crash in a row; a
# child that ran for RESTART_RESET_S before crashing starts over from the first delay.
RESTART_DELAYS_S = (1, 2, 5, 10, 30, 60)
RESTART_RESET_S = 120

# Every process `up` starts runs with Prefect's telemetry off.
TELEMETRY_OFF_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


@dataclass
class Child:
    """A long-running child process in its own process group, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    stop_timeout_s: float = 20
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    crashes: int = 0  # in a row
    restart_at: float | None = None  # when a crashed child is due to start again

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def exited(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left after `stop_timeout_s`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # Flow-run subprocesses of a served runner share its group: leave none behind.
        _signal_group(self.process.pid, signal.SIGKILL)

    def crashed(self, code: int) -> float:
        """Note a crash (in the child's log too); the delay before it is started again."""
        if time.monotonic() - self.started_at >= RESTART_RESET_S:
            self.crashes = 0
        delay = RESTART_DELAYS_S[min(self.crashes, len(RESTART_DELAYS_S) - 1)]
        self.crashes += 1
        self.restart_at = time.monotonic() + delay
        self.stop()  # nothing of its process group is left behind
        with contextlib.suppress(OSError), self.log_path.open("a", encoding="utf-8") as log:
            log.write(
                f"{datetime.now(UTC).isoformat(timespec='seconds')} alertflow up: {self.name} exited with "
                f"{code}; starting it again in {delay} s (crash {self.crashes} in a row)\n"
            )
        return delay

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class OneShot:
    """A child command that runs to completion during start-up; its stdout kept when asked."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    output_path: Path | None = None

    def wait(self, deadline: float) -> None:
        """Until it exits 0; raise with the log's path when it fails or outlives `deadline`."""
        try:
            code = self.process.wait(max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            raise TimeoutError(f"`{self.name}` did not finish; see {self.log_path}") from None
        if code != 0:
            raise AlertflowError(f"`{self.name}` exited {code}; see {self.log_path}")

    def output(self) -> str:
        """What it printed on stdout (kept apart from its log)."""
        return self.output_path.read_text(encoding="utf-8") if self.output_path is not None else ""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


@dataclass
class Stack:
    """Everything `alertflow up` runs; `start()`, then `supervise(stop)`, then `stop()`."""

    settings: Settings
    up: UpSettings
    echo: Callable[[str], None] = print
    demo: bool = False
    insecure: bool = False  # --insecure: plain HTTP on a non-loopback host
    server: LocalPrefectServer | None = None
    api_url: str = ""
    auth_string: str | None = None
    ingest_token: str = ""
    drop: DropDirectory | None = None
    api_cert: Path | None = None
    api_admin_file: Path | None = None
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)
    crashed_runs_tried: set[str] = field(default_factory=set)  # each Crashed run is scheduled again once
    started_wall: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.expanduser().resolve()

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def drop_dir(self) -> Path:
        return self.data_dir / "drop"

    @property
    def ingest_url(self) -> str:
        return self.up.ingest_url

    def ingest_verify(self) -> ssl.SSLContext | bool:
        """How up's own requests check the ingest endpoint: with TLS, it must show our certificate."""
        if not self.up.tls:
            return True
        context = ssl.create_default_context(cafile=str(self.up.tls_certfile))
        context.check_hostname = False  # the certificate itself is pinned: it may name another host
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a CA-issued leaf is trusted as itself
        return context

    def client_env(self) -> dict[str, str]:
        """The environment of every child: this one plus where Prefect is and how to log in."""
        env = {**os.environ, "ALERTFLOW_DATA_DIR": str(self.data_dir), "PREFECT_API_URL": self.api_url}
        env["PREFECT_HOME"] = str(self.data_dir / "prefect")
        for name, value in TELEMETRY_OFF_ENV.items():
            env.setdefault(name, value)
        if self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.auth_string
        else:
            env.pop("PREFECT_API_AUTH_STRING", None)
        if self.ingest_token:
            env["ALERTFLOW_INGEST_TOKEN"] = self.ingest_token
        env["ALERTFLOW_RERUN_CRASHED_PLAYBOOKS"] = "false"  # up reschedules its runner's crashed runs
        return env

    def api(self) -> PrefectApi:
        return PrefectApi(self.api_url, self.auth_string)

    def start(self) -> None:
        """Start every part and wait until each is ready; on any failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        deadline = time.monotonic() + self.up.ready_timeout_s
        for warning in self.up.exposure(insecure=self.insecure):
            self.echo(warning)
        ensure_private_dir(self.data_dir)
        migrate.upgrade(self.settings.resolved_database_url)
        api_tls = self._prepare_api()
        self._start_prefect(deadline)
        self.ingest_token = (
            self.settings.ingest_token.get_secret_value() if self.settings.ingest_token else ""
        ) or ensure_ingest_token(self.data_dir)
        # Everything below only needs the Prefect server: start it all at once (each part is
        # a Python process importing Prefect for seconds), then wait for each to be ready.
        # The names of the deployments the runner will serve, read from the catalog in a
        # child: the catalog imports Prefect and every flow, which the supervisor does not.
        names = self._oneshot(
            "deployment-names", [sys.executable, "-m", "deployments.serve", "--names"], keep_output=True
        )
        oneshots = [
            self._oneshot("blocks-register", [sys.executable, "-m", "alertflow", "blocks", "register"]),
            names,
        ]
        if self.demo:
            oneshots.append(
                self._oneshot(
                    "profiles-import",
                    [sys.executable, "-m", "alertflow", "profiles", "import", str(demo.PROFILES)],
                )
            )
        self._start_child(
            "serve",
            [sys.executable, "-m", "deployments.serve", "--limit", str(self.up.serve_limit)],
            {"PREFECT_RUNNER_POLL_FREQUENCY": "1"},
        )
        # One process: the ingest worker (HTTP source) with the outbox dispatcher in it.
        scheme = "https" if self.up.tls else "http"
        ingest = [sys.executable, "-m", "alertflow", "ingest"]
        ingest += ["--source", f"{scheme}://{url_host(self.up.host)}:{self.up.ingest_port}"]
        if self.up.tls:
            ingest += ["--tls-certfile", str(self.up.tls_certfile), "--tls-keyfile", str(self.up.tls_keyfile)]
        if self.up.metrics_port:  # no authentication: always on loopback, whatever `host` is
            ingest += ["--metrics-port", str(self.up.metrics_port), "--metrics-host", "127.0.0.1"]
        self._start_child("ingest", ingest)
        certfile, keyfile = api_tls
        api = [
            sys.executable,
            "-m",
            "alertflow",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.up.api_port),
        ]
        self._start_child("api", [*api, "--tls-cert", str(certfile), "--tls-key", str(keyfile)])
        # Forwarding is its own process: a SIEM that is down or slow never holds up ingest.
        forward = [sys.executable, "-m", "alertflow", "forward"]
        if self.up.forward_metrics_port:  # loopback only, as the worker's
            forward += ["--metrics-port", str(self.up.forward_metrics_port), "--metrics-host", "127.0.0.1"]
        self._start_child("forward", forward)
        self.drop = DropDirectory(
            self.drop_dir, self.log_dir / "drop.log", self.client_env, self.echo, self.up.drop_quiet_s
        )
        self.drop.create()
        for oneshot in oneshots:
            oneshot.wait(deadline)
        self._wait_for_deployments(set(json.loads(names.output())), deadline)
        self._wait_for_ingest(deadline)
        self._wait_for_api(certfile, deadline)

    def _prepare_api(self) -> tuple[Path, Path]:
        """The API's certificate and key, and its first admin user, made once in the data dir."""
        certfile, keyfile = ensure_api_certificate(self.data_dir)
        engine = make_engine(self.settings.resolved_database_url)
        try:
            self.api_admin_file = ensure_api_admin(engine, self.data_dir)
        finally:
            engine.dispose()
        self.api_cert = certfile
        return certfile, keyfile

    def _wait_for_api(self, certfile: Path, deadline: float) -> None:
        """Ready when the API answers over TLS with the certificate up made (401 without a password)."""
        verify = ssl.create_default_context(cafile=str(certfile))
        while not self.stopping.is_set():
            self._check_children()
            try:
                if httpx.get(f"{self.up.api_url}/api/v1/health", timeout=2, verify=verify).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the REST API did not answer; see {self.log_dir / 'api.log'}")
            time.sleep(0.3)

    def _start_prefect(self, deadline: float) -> None:
        external = os.environ.get("PREFECT_API_URL")
        if external:
            self.api_url = external.rstrip("/")
            self.auth_string = os.environ.get("PREFECT_API_AUTH_STRING") or None
            with self.api() as api:
                if not api.healthy():
                    raise IntegrationError(f"PREFECT_API_URL={self.api_url} does not answer /health")
            self.echo(f"using the Prefect server at {self.api_url}")
            return
        self.auth_string = ensure_auth_string(self.data_dir)
        self.server = LocalPrefectServer(
            home=self.data_dir / "prefect",
            port=self.up.prefect_port,
            host=self.up.prefect_host,
            auth_string=self.auth_string,
            ui=self.up.ui,
            extra_env=self.prefect_server_env(),
        )
        self.echo(f"starting the Prefect server on {self.server.api_url} (log: {self.server.log_path})")
        self.server.start(timeout_s=max(deadline - time.monotonic(), 1))
        self.api_url = self.server.api_url

    def prefect_server_env(self) -> dict[str, str]:
        """What the local Prefect server gets on top of its defaults: scheduler limits and retention."""
        return {**EMBEDDED_SCHEDULER_ENV, **vacuum_env(self.settings.prefect_retain_flow_runs_days)}

    def _oneshot(self, name: str, argv: list[str], *, keep_output: bool = False) -> OneShot:
        """Start a command that runs to completion: its output in the log dir, stdout apart if kept."""
        log = self.log_dir / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        output = self.log_dir / f"{name}.out" if keep_output else None
        with contextlib.ExitStack() as files:
            out = files.enter_context(log.open("ab"))
            stdout = files.enter_context(output.open("wb")) if output is not None else out
            process = subprocess.Popen(
                argv,
                env=self.client_env(),
                stdout=stdout,
                stderr=out,
                start_new_session=True,
            )
        return OneShot(" ".join(argv[2:]), process, log, output)

    def _wait_for_ingest(self, deadline: float) -> None:
        """Ready when the endpoint answers (401 to a request without the token)."""
        while True:
            self._check_children()
            try:
                answer = httpx.post(self.ingest_url, content=b"", timeout=2, verify=self.ingest_verify())
                if answer.status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.stopping.is_set():
                if self.stopping.is_set():
                    return
                raise TimeoutError(f"the ingest endpoint did not answer; see {self.log_dir / 'ingest.log'}")
            time.sleep(0.3)

    def post_demo_events(self) -> str:
        """Send the bundled demo events to the ingest endpoint; what became of them.

        The endpoint's `stored_alerts` counts the alerts of the body that are in the store now,
        including those an earlier `--demo` stored (a repost stores nothing twice); the demo
        alerts counted before and after tell the two apart.
        """
        before = self._demo_alerts_stored()
        events = demo.EVENTS.read_bytes()
        try:
            response = httpx.post(
                self.ingest_url,
                content=events,
                headers={
                    "Authorization": f"Bearer {self.ingest_token}",
                    "Content-Type": "application/x-ndjson",
                },
                timeout=60,
                verify=self.ingest_verify(),
            )
        except httpx.HTTPError as exc:  # the demo is a convenience: report, keep running
            return f"posting the demo events failed: {type(exc).__name__}: {exc}"
        if response.status_code != 202:
            return f"the ingest endpoint answered {response.status_code}: {response.text[:200]}"
        in_store = int(response.json().get("stored_alerts", 0))
        new = self._demo_alerts_stored() - before
        posted = len(events.splitlines())
        return (
            f"{posted} demo events posted: {new} alert(s) stored now, "
            f"{in_store - new} already stored by an earlier --demo (never stored twice)"
        )

    def _demo_alerts_stored(self) -> int:
        engine = make_engine(self.settings.resolved_database_url)
        try:
            with engine.connect() as conn:
                query = text("SELECT COUNT(*) FROM alert WHERE description LIKE :demo")
                return int(conn.execute(query, {"demo": f"{demo.DESCRIPTION_PREFIX}%"}).scalar_one())
        finally:
            engine.dispose()

    def _start_child(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, {**self.client_env(), **(extra_env or {})}, self.log_dir / f"{name}.log")
        child.start()
        self.children.append(child)
        return child

    def _wait_for_deployments(self, expected: set[str], deadline: float) -> None:
        """Ready when the runner has registered every deployment of the catalog."""
        with self.api() as api:
            while True:
                self._check_children()
                if expected <= api.deployment_names() or self.stopping.is_set():
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"deployments not served after {self.up.ready_timeout_s:.0f}s; "
                        f"see {self.log_dir / 'serve.log'}"
                    )
                time.sleep(0.5)

    def _check_children(self) -> None:
        for child in self.children:
            code = child.exited()
            if code is not None:
                raise AlertflowError(
                    f"{child.name} exited with {code}; last lines of {child.log_path}:\n{child.log_tail()}"
                )

    def banner(self) -> str:
        """Where everything is."""
        ui = self.api_url.removesuffix("/api")
        lines = [f"alertflow is up (ready in {time.monotonic() - self.started_at:.1f} s)"]
        if self.server is not None and self.up.ui:
            lines.append(f"  Prefect UI:   {ui}  (login: the user:password in {self.data_dir / AUTH_FILE})")
        lines.append(f"  Prefect API:  {self.api_url}")
        lines.append(
            f"  ingest:       POST {self.ingest_url}  (Authorization: Bearer <{self.data_dir / INGEST_TOKEN_FILE}>)"
        )
        lines.append(
            f"  drop dir:     {self.drop_dir}  (each line of a JSON-lines file is imported once; then done/)"
        )
        lines.append(
            f"  REST API:     {self.up.api_url}/api/v1  (user {API_ADMIN}, password in {self.api_admin_file}; "
            f"certificate: {self.api_cert})"
        )
        lines.append(
            f"  STIX-shifter: {self.up.api_url}/alertflex-ctrl/rest/stix-alerts  (the alertflex connector)"
        )
        if self.up.metrics_url:
            lines.append(
                f"  metrics:      {self.up.metrics_url}  (ingest worker, Prometheus; loopback only, no login)"
            )
        if self.up.forward_metrics_url:
            lines.append(
                f"  forwarders:   {self.up.forward_metrics_url}  (forward process, Prometheus; loopback only, no login)"
            )
        lines.append(
            f"  console:      {self.up.api_url}/  (sign in as {API_ADMIN} with the REST API's password; "
            "the browser must trust the certificate above)"
        )
        lines.append(f"  alert store:  {mask_url(self.settings.resolved_database_url)}")
        lines.append(f"  logs:         {self.log_dir}")
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)

    def supervise(self, stop: threading.Event) -> None:
        """Until `stop` is set: start crashed children again, import dropped files, skip late runs."""
        next_late_check = 0.0
        with self.api() as api:
            while not stop.wait(0.5):
                self._restart_crashed_server()
                self.restart_crashed_children()
                if self.drop is not None:
                    self.drop.poll()
                if time.monotonic() >= next_late_check:
                    next_late_check = time.monotonic() + self.up.late_check_s
                    self._skip_late_runs(api)
                    self._reschedule_crashed_runs(api)

    def restart_crashed_children(self) -> None:
        """A child that exited is started again after a delay that grows with each crash in a row."""
        for child in self.children:
            if child.restart_at is not None:
                if time.monotonic() >= child.restart_at:
                    child.restart_at = None
                    if child.name == "serve":
                        self._reschedule_orphaned_runs()
                    self.echo(f"starting {child.name} again (log: {child.log_path})")
                    child.start()
                continue
            code = child.exited()
            if code is not None:
                delay = child.crashed(code)
                self.echo(
                    f"{child.name} exited with {code}; starting it again in {delay} s "
                    f"(crash {child.crashes} in a row); last lines of {child.log_path}:\n{child.log_tail(8)}"
                )

    def _reschedule_orphaned_runs(self) -> None:
        """The runs the dead runner had taken go back to Scheduled (local server only: ours alone)."""
        if self.server is None:
            return
        try:
            with self.api() as api:
                rescheduled = reschedule_orphaned_runs(api, now=datetime.now(UTC))
        except IntegrationError as exc:  # the server is away too: those runs stay as they are
            self.echo(f"could not reschedule the dead runner's flow runs: {exc}")
            return
        if rescheduled:
            self.echo(f"scheduled {len(rescheduled)} flow run(s) of the dead runner again")

    def _reschedule_crashed_runs(self, api: PrefectApi) -> None:
        """A deployment run whose process died (Crashed) runs once more (local server only)."""
        if self.server is None:
            return
        try:
            rescheduled = reschedule_crashed_runs(
                api, now=datetime.now(UTC), since=self.started_wall, tried=self.crashed_runs_tried
            )
        except IntegrationError as exc:  # the server may be briefly busy; try again next round
            self.echo(f"crashed-run check failed: {exc}")
            return
        if rescheduled:
            self.echo(f"scheduled {len(rescheduled)} crashed flow run(s) again (once each)")

    def _restart_crashed_server(self) -> None:
        """The local Prefect server is started again like a child (the children reconnect)."""
        server = self.server
        if server is None or server.process is None or server.process.poll() is None:
            return
        self.echo(
            f"the Prefect server exited with {server.process.returncode}; starting it again (log: {server.log_path})"
        )
        try:
            server.start(timeout_s=self.up.ready_timeout_s)
        except (TimeoutError, RuntimeError) as exc:  # tried again on the next round
            self.echo(f"the Prefect server did not start again: {exc}")
            self.stopping.wait(RESTART_DELAYS_S[3])

    def _skip_late_runs(self, api: PrefectApi) -> None:
        try:
            skipped = skip_late_runs(
                api, now=datetime.now(UTC), grace=timedelta(seconds=self.up.late_grace_s)
            )
        except IntegrationError as exc:  # the server may be briefly busy; try again next round
            self.echo(f"late-run check failed: {exc}")
            return
        if skipped:
            self.echo(f"skipped {len(skipped)} late scheduled run(s) as Missed")

    def stop(self) -> None:
        """Stop the children in reverse start order, then the Prefect server."""
        if self.drop is not None:
            self.drop.stop()
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.server is not None:
            self.server.stop()


def run(
    settings: Settings,
    up: UpSettings,
    echo: Callable[[str], None] = print,
    *,
    demo_mode: bool = False,
    insecure: bool = False,
) -> int:
    """Start, print where things are, supervise until SIGINT/SIGTERM, stop; the exit code."""
    stack = Stack(settings, up, echo, demo=demo_mode, insecure=insecure)
    stop = stack.stopping

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start()
        if stop.is_set():
            return 0
        echo(stack.banner())
        if demo_mode:
            echo(f"demo: profile demo-contain imported; {stack.post_demo_events()}")
            echo("demo: the demo-contain playbook needs a HostProfile block named demo-host to reach a host")
        stack.supervise(stop)
        echo("stopping alertflow ...")
        return 0
    except AlertflowError as exc:
        echo(f"alertflow up failed: {exc}")
        return 1
    except (TimeoutError, RuntimeError) as exc:  # the Prefect server or the runner did not start
        echo(f"alertflow up failed: {exc}")
        return 1
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("alertflow stopped")
