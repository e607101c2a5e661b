"""`alertflow up`: the whole product on one machine, as child processes of one supervisor.

Order of start: the alert store is migrated; a local Prefect server (SQLite in the data dir,
API auth on) starts unless PREFECT_API_URL points to one; block types are registered; all
deployments are served; the ingest worker and the dispatcher start. Stop (Ctrl-C or SIGTERM)
goes in reverse so the ingest worker drains before anything it feeds goes away.

Alerts come in over HTTP (`POST /ingest` with the bearer token kept in the data dir) and
through the drop directory: a JSON-lines file put there is imported once (`alertflow
ingest-file --respond`) and moved to `drop/done/` (or `drop/failed/` with its log).
`--demo` imports the demo response profile and posts the bundled demo events.

While up, the supervisor skips auto-scheduled runs that are more than `late_grace_s` late
(see `alertflow.late_runs`): the embedded server has Prefect's late-runs service off.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from alertflow import demo
from alertflow.late_runs import skip_late_runs
from alertflow.local_prefect import LocalPrefectServer
from alertflow.prefect_api import PrefectApi
from alertmodel import migrate
from alertmodel.errors import AlertflowError, ConfigurationError, IntegrationError
from alertmodel.settings import Settings

AUTH_FILE = "prefect-auth"
INGEST_TOKEN_FILE = "ingest-token"  # noqa: S105 (a file name, not a secret)
DROP_SUFFIXES = (".json", ".jsonl", ".log")

# The scheduler keeps at most this many future runs per deployment (Prefect's default is 100):
# fewer Scheduled rows for SQLite to walk; a short-interval schedule still has runs ahead.
EMBEDDED_SCHEDULER_ENV = {"PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "10"}


class UpSettings(BaseSettings):
    """Ports and limits of `alertflow up` (environment: ALERTFLOW_UP_*)."""

    model_config = SettingsConfigDict(env_prefix="ALERTFLOW_UP_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address every listener binds to.")
    prefect_port: int = Field(default=4200, ge=1, le=65535, description="Port of the local Prefect server.")
    ui: bool = Field(default=True, description="Serve the Prefect UI from the local server.")
    ingest_port: int = Field(default=8480, ge=1, le=65535, description="Port of the HTTP ingest endpoint.")
    serve_limit: int = Field(default=4, ge=1, le=32, description="Flow runs executing at once.")
    late_grace_s: float = Field(
        default=900, gt=0, description="An auto-scheduled run this late (s) is skipped as Missed."
    )
    late_check_s: float = Field(default=15, gt=0, description="How often late runs are looked for (s).")
    ready_timeout_s: float = Field(default=120, gt=0, description="Give up starting after this long (s).")


def ensure_auth_string(data_dir: Path) -> str:
    """The `user:password` of the local Prefect API, created once, kept with mode 0600."""
    value = _secret_file(data_dir / AUTH_FILE, lambda: f"alertflow:{secrets.token_urlsafe(24)}")
    if ":" not in value:
        raise ConfigurationError(f"{data_dir / AUTH_FILE} must hold user:password on one line")
    return value


def ensure_ingest_token(data_dir: Path) -> str:
    """The bearer token of the HTTP ingest endpoint, created once, kept with mode 0600."""
    return _secret_file(data_dir / INGEST_TOKEN_FILE, lambda: secrets.token_urlsafe(32))


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    """The one-line secret in `path`, created (mode 0600) when missing; refused when others can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
            ) from None
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigurationError(f"{path} is empty; delete it and a new secret is made") from None
        return value
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        value = make()
        handle.write(value + "\n")
    return value


@dataclass
class Child:
    """A long-running child process in its own process group, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    stop_timeout_s: float = 20
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
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

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


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
    server: LocalPrefectServer | None = None
    api_url: str = ""
    auth_string: str | None = None
    ingest_token: str = ""
    importer: tuple[Path, subprocess.Popen[bytes]] | None = None
    children: list[Child] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)

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
        return f"http://{self.up.host}:{self.up.ingest_port}/ingest"

    def client_env(self) -> dict[str, str]:
        """The environment of every child: this one plus where Prefect is and how to log in."""
        env = {**os.environ, "ALERTFLOW_DATA_DIR": str(self.data_dir), "PREFECT_API_URL": self.api_url}
        env["PREFECT_HOME"] = str(self.data_dir / "prefect")
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.auth_string
        else:
            env.pop("PREFECT_API_AUTH_STRING", None)
        if self.ingest_token:
            env["ALERTFLOW_INGEST_TOKEN"] = self.ingest_token
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
        migrate.upgrade(self.settings.resolved_database_url)
        self._start_prefect(deadline)
        self.ingest_token = (
            self.settings.ingest_token.get_secret_value() if self.settings.ingest_token else ""
        ) or ensure_ingest_token(self.data_dir)
        # Everything below only needs the Prefect server: start it all at once (each part is
        # a Python process importing Prefect for seconds), then wait for each to be ready.
        oneshots = [self._oneshot("blocks", "register")]
        if self.demo:
            oneshots.append(self._oneshot("profiles", "import", str(demo.PROFILES)))
        self._start_child(
            "serve",
            [sys.executable, "-m", "deployments.serve", "--limit", str(self.up.serve_limit)],
            {"PREFECT_RUNNER_POLL_FREQUENCY": "1"},
        )
        # One process: the ingest worker (HTTP source) with the outbox dispatcher in it.
        self._start_child(
            "ingest",
            [
                sys.executable,
                "-m",
                "alertflow",
                "ingest",
                "--source",
                f"http://{self.up.host}:{self.up.ingest_port}",
            ],
        )
        for sub in ("", "done", "failed"):
            (self.drop_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, process, log in oneshots:
            try:
                code = process.wait(max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                raise TimeoutError(f"`alertflow {name}` did not finish; see {log}") from None
            if code != 0:
                raise AlertflowError(f"`alertflow {name}` exited {code}; see {log}")
        self._wait_for_deployments(deadline)
        self._wait_for_ingest(deadline)

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
            host=self.up.host,
            auth_string=self.auth_string,
            ui=self.up.ui,
            extra_env=EMBEDDED_SCHEDULER_ENV,
        )
        self.echo(f"starting the Prefect server on {self.server.api_url} (log: {self.server.log_path})")
        self.server.start(timeout_s=max(deadline - time.monotonic(), 1))
        self.api_url = self.server.api_url

    def _oneshot(self, *args: str) -> tuple[str, subprocess.Popen[bytes], Path]:
        """Start one `alertflow` command that runs to completion (output in the log dir)."""
        log = self.log_dir / f"{args[0]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "alertflow", *args],
                env=self.client_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return " ".join(args), process, log

    def _wait_for_ingest(self, deadline: float) -> None:
        """Ready when the endpoint answers (401 to a request without the token)."""
        while True:
            self._check_children()
            try:
                if httpx.post(self.ingest_url, content=b"", timeout=2).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.stopping.is_set():
                if self.stopping.is_set():
                    return
                raise TimeoutError(f"the ingest endpoint did not answer; see {self.log_dir / 'ingest.log'}")
            time.sleep(0.3)

    def post_demo_events(self) -> str:
        """Send the bundled demo events to the ingest endpoint; its answer."""
        try:
            response = httpx.post(
                self.ingest_url,
                content=demo.EVENTS.read_bytes(),
                headers={
                    "Authorization": f"Bearer {self.ingest_token}",
                    "Content-Type": "application/x-ndjson",
                },
                timeout=60,
            )
        except httpx.HTTPError as exc:  # the demo is a convenience: report, keep running
            return f"failed: {type(exc).__name__}: {exc}"
        return f"{response.status_code} {response.text[:200]}"

    def _watch_drop_dir(self) -> None:
        """Import one dropped file at a time; move it to done/ or failed/ afterwards."""
        if self.importer is not None:
            path, process = self.importer
            code = process.poll()
            if code is None:
                return
            target = self.drop_dir / ("done" if code == 0 else "failed") / path.name
            path.replace(target)
            self.echo(
                f"drop directory: {path.name} {'imported' if code == 0 else 'FAILED, see ' + str(self.log_dir / 'drop.log')}"
            )
            self.importer = None
        now = time.time()
        for path in sorted(self.drop_dir.iterdir()):
            # a file still being written changes its mtime: wait until it has been still for 1 s
            if path.is_file() and path.suffix in DROP_SUFFIXES and now - path.stat().st_mtime > 1:
                log = (self.log_dir / "drop.log").open("ab")
                process = subprocess.Popen(
                    [sys.executable, "-m", "alertflow", "ingest-file", "--respond", str(path)],
                    env=self.client_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                log.close()
                self.importer = (path, process)
                return

    def _start_child(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, {**self.client_env(), **(extra_env or {})}, self.log_dir / f"{name}.log")
        child.start()
        self.children.append(child)
        return child

    def _wait_for_deployments(self, deadline: float) -> None:
        """Ready when the runner has registered every deployment of the catalog."""
        from deployments.catalog import all_deployments  # the catalog imports Prefect: only here

        expected = {f"{d.flow_name}/{d.name}" for d in all_deployments()}
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
            f"  drop dir:     {self.drop_dir}  (JSON-lines files are imported once, then moved to done/)"
        )
        lines.append(f"  alert store:  {_mask(self.settings)}")
        lines.append(f"  logs:         {self.log_dir}")
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)

    def supervise(self, stop: threading.Event) -> None:
        """Until `stop` is set: watch the children and skip late scheduled runs."""
        next_late_check = 0.0
        with self.api() as api:
            while not stop.wait(0.5):
                self._check_children()
                self._watch_drop_dir()
                if self.server is not None and self.server.process and self.server.process.poll() is not None:
                    raise AlertflowError(f"the Prefect server exited; see {self.server.log_path}")
                if time.monotonic() >= next_late_check:
                    next_late_check = time.monotonic() + self.up.late_check_s
                    self._skip_late_runs(api)

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
        if self.importer is not None:
            _signal_group(self.importer[1].pid, signal.SIGTERM)  # ingest-file stores what it read, then exits
            try:
                self.importer[1].wait(30)
            except subprocess.TimeoutExpired:
                _signal_group(self.importer[1].pid, signal.SIGKILL)
            self.importer = None
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.server is not None:
            self.server.stop()


def prefect_client_settings(settings: Settings) -> dict[Any, str]:
    """Prefect settings that point a client at `alertflow up`'s server, unless PREFECT_API_URL is set.

    Without a reachable server a flow would silently run on a temporary one: refuse instead.
    """
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    if os.environ.get("PREFECT_API_URL"):
        return {}
    up = UpSettings()
    api_url = f"http://{up.host}:{up.prefect_port}/api"
    auth_path = settings.data_dir.expanduser() / AUTH_FILE
    auth = ensure_auth_string(settings.data_dir.expanduser()) if auth_path.exists() else None
    with PrefectApi(api_url, auth) as api:
        if not api.healthy():
            raise ConfigurationError(
                f"no Prefect server answers at {api_url}: start `alertflow up`, or set PREFECT_API_URL "
                "(and PREFECT_API_AUTH_STRING) to use another one"
            )
    updates: dict[Any, str] = {PREFECT_API_URL: api_url}
    if auth:
        updates[PREFECT_API_AUTH_STRING] = auth
    return updates


def _mask(settings: Settings) -> str:
    from alertmodel.settings import mask_url

    return mask_url(settings.resolved_database_url)


def run(
    settings: Settings, up: UpSettings, echo: Callable[[str], None] = print, *, demo_mode: bool = False
) -> int:
    """Start, print where things are, supervise until SIGINT/SIGTERM, stop; the exit code."""
    stack = Stack(settings, up, echo, demo=demo_mode)
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
            echo(f"demo: profile demo-contain imported; demo events posted: {stack.post_demo_events()}")
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
