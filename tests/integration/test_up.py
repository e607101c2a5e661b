"""`alertflow up --demo` end to end: API auth, an alert over HTTP that matches the demo profile
runs the demo playbook on a loopback sshd to Completed, the drop directory, a clean stop."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text

from alertflow.up.demo import DEMO_SIGNATURE_ID, EVENTS
from alertflow.up.prefect_server import free_port
from tests.forward_receivers import GelfReceiver
from tests.other_user import not_private, open_parent, readable_by_other_user
from tests.prefect_http import prefect_call

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Any, what: str, timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


class Up:
    def __init__(
        self,
        data: Path,
        prefect_port: int,
        ingest_port: int,
        api_port: int,
        metrics_port: int,
        forward_metrics_port: int,
        *,
        ui: bool = False,
    ) -> None:
        self.data = data
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.forward_metrics_url = f"http://127.0.0.1:{forward_metrics_port}/metrics"
        self.prefect_port = prefect_port
        self.rest_url = f"https://127.0.0.1:{api_port}"
        self.api_url = f"http://127.0.0.1:{prefect_port}/api"
        self.ingest_url = f"http://127.0.0.1:{ingest_port}/ingest"
        self.out = data.parent / "up.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
        env |= {
            "ALERTFLOW_DATA_DIR": str(data),
            "ALERTFLOW_UP_PREFECT_PORT": str(prefect_port),
            "ALERTFLOW_UP_INGEST_PORT": str(ingest_port),
            "ALERTFLOW_UP_API_PORT": str(api_port),
            "ALERTFLOW_UP_METRICS_PORT": str(metrics_port),
            "ALERTFLOW_UP_FORWARD_METRICS_PORT": str(forward_metrics_port),
            "ALERTFLOW_UP_READY_TIMEOUT_S": "280",
            "ALERTFLOW_UP_DROP_QUIET_S": "2",
        }
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alertflow", "up", "--demo", *([] if ui else ["--no-ui"])],
                cwd=data.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def auth(self) -> tuple[str, str]:
        user, _, password = (self.data / "prefect-auth").read_text().strip().partition(":")
        return user, password

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.api_url, auth=self.auth(), timeout=60) as http:
            return prefect_call(http, method, path, **kwargs)


@pytest.fixture(scope="module")
def up() -> Iterator[Up]:
    with up_running() as running:
        yield running


@contextmanager
def up_running(*, ui: bool = False) -> Iterator[Up]:
    """`alertflow up --demo` on a fresh data dir, ready; stopped with Ctrl-C and removed after."""
    parent = open_parent()  # every user may enter it: only the data dir's own modes keep them out
    running = Up(parent / "data", free_port(), free_port(), free_port(), free_port(), free_port(), ui=ui)
    try:
        wait_for(
            lambda: "alertflow is up" in running.output() or running.process.poll() is not None,
            "alertflow up to be ready",
            300,
        )
        assert "alertflow is up" in running.output(), running.output()
        yield running
    finally:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGINT)
            try:
                running.process.wait(90)
            except subprocess.TimeoutExpired:
                running.process.kill()
        shutil.rmtree(parent, ignore_errors=True)


def wazuh_fim_event(marker: str) -> str:
    """The demo's Wazuh FIM event (rule 550) about the file `marker`: one alert per marker."""
    event = json.loads(EVENTS.read_text().splitlines()[2])
    assert event["rule"]["id"] == "550"
    event["syscheck"]["path"] = marker
    return json.dumps(event)


def alerts_about(up: Up, file_prefix: str) -> int:
    store = create_engine(f"sqlite:///{up.data / 'alertflow.db'}")
    with store.connect() as conn:
        query = text("SELECT COUNT(*) FROM alert WHERE file LIKE :f")
        count = conn.execute(query, {"f": f"{file_prefix}%"}).scalar_one()
    store.dispose()
    return int(count)


def test_the_demo_says_what_it_stored(up: Up) -> None:
    wait_for(lambda: "demo: profile" in up.output(), "the demo line after the banner", 60)
    assert (
        "demo: profile demo-contain imported; 3 demo events posted: 3 alert(s) stored now, "
        "0 already stored by an earlier --demo" in up.output()
    )


def test_the_ingest_workers_metrics_are_on_loopback_and_count_the_demo_alerts(up: Up) -> None:
    assert f"metrics:      {up.metrics_url}" in up.output()
    wait_for(lambda: "demo: profile" in up.output(), "the demo line after the banner", 60)
    body = httpx.get(up.metrics_url, timeout=10).text
    stored = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("alertflow_ingest_alerts_stored_total{")
    )
    assert stored >= 3  # the demo's three events (alerts posted by other tests add to it)


def test_the_prefect_api_refuses_requests_without_the_auth_string(up: Up) -> None:
    auth_file = up.data / "prefect-auth"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    body = {"include_secrets": True}
    refused = httpx.post(f"{up.api_url}/block_documents/filter", json=body, timeout=30)
    assert refused.status_code == 401
    wrong = httpx.post(
        f"{up.api_url}/block_documents/filter", json=body, auth=("alertflow", "guess"), timeout=30
    )
    assert wrong.status_code == 401
    allowed = up.api("POST", "/block_documents/filter", json=body)
    assert allowed.status_code == 200
    assert isinstance(allowed.json(), list)


def test_an_alert_over_http_matching_the_demo_profile_runs_the_demo_playbook_to_completed(up: Up) -> None:
    # Nothing configured: no demo-host block, so the host jobs are skipped and the run completes.
    attacker = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    event = json.loads(EVENTS.read_text().splitlines()[0])
    assert event["alert"]["signature_id"] == DEMO_SIGNATURE_ID
    event |= {"src_ip": attacker, "flow_id": uuid.uuid4().int % 10**15}
    token = (up.data / "ingest-token").read_text().strip()
    assert httpx.post(up.ingest_url, content=json.dumps(event), timeout=30).status_code == 401
    accepted = httpx.post(
        up.ingest_url, content=json.dumps(event), headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert accepted.status_code == 202, accepted.text

    deployment = up.api("GET", "/deployments/name/yaml-playbook/demo-contain").json()

    def our_run() -> dict[str, Any] | None:
        runs = up.api(
            "POST", "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
        ).json()
        mine = [r for r in runs if (r["parameters"].get("alert") or {}).get("srcip") == attacker]
        if mine and mine[0]["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return mine[0]
        return None

    run = wait_for(our_run, "the demo playbook run", 240)
    logs = (up.data / "logs" / "serve.log").read_text(errors="replace")[-4000:]
    assert run["state_type"] == "COMPLETED", f"{run['state_name']}: {logs}"
    assert run["idempotency_key"].endswith(":demo-contain")
    assert "job inspect (run_script) skipped: no alertflow-host-profile block named 'demo-host'" in (
        up.data / "logs" / "serve.log"
    ).read_text(errors="replace")
    store = create_engine(f"sqlite:///{up.data / 'alertflow.db'}")
    with store.connect() as conn:
        recorded = conn.execute(
            text("SELECT flow_run_id FROM playbook_run WHERE profile = 'demo-contain' AND flow_run_id = :id"),
            {"id": run["id"]},
        ).all()
    store.dispose()
    assert len(recorded) == 1


def test_a_file_in_the_drop_directory_is_imported_once_and_moved_to_done(up: Up) -> None:
    marker = f"/etc/demo/{uuid.uuid4().hex}.conf"
    staging = up.data / "drop" / ".batch.tmp"
    staging.write_text(wazuh_fim_event(marker) + "\n")
    staging.rename(up.data / "drop" / "batch.jsonl")
    done = up.data / "drop" / "done"
    wait_for(lambda: list(done.glob("batch.*.jsonl")), "the dropped file to be imported", 180)
    assert alerts_about(up, marker) == 1


def test_a_file_written_slowly_in_place_keeps_every_line(up: Up) -> None:
    # A line every 2.5 s, longer than the quiet period: the open writer keeps the file from being taken.
    prefix = f"/etc/slow/{uuid.uuid4().hex}/"
    lines = [wazuh_fim_event(f"{prefix}{i}") for i in range(5)]
    script = (
        "import sys, time\n"
        "with open(sys.argv[1], 'a') as f:\n"
        "    for line in sys.argv[2:]:\n"
        "        f.write(line + '\\n'); f.flush(); time.sleep(2.5)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(up.data / "drop" / "slow.jsonl"), *lines])
    assert writer.wait(60) == 0
    done = up.data / "drop" / "done"
    wait_for(lambda: list(done.glob("slow.*.jsonl")), "the slow file to be imported", 180)
    assert alerts_about(up, prefix) == 5


def test_a_symlink_in_the_drop_directory_is_not_followed(up: Up, tmp_path: Path) -> None:
    marker = f"/etc/secret/{uuid.uuid4().hex}"
    secret = tmp_path / "secret.jsonl"
    secret.write_text(wazuh_fim_event(marker) + "\n")
    (up.data / "drop" / "shadow.log").symlink_to(secret)
    failed = up.data / "drop" / "failed"
    wait_for(lambda: list(failed.glob("shadow.*.log")), "the symlink to be refused", 60)
    assert "shadow.log refused: not a regular file (a symlink)" in up.output()
    time.sleep(3)
    assert alerts_about(up, marker) == 0


def test_a_crashed_ingest_worker_is_started_again(up: Up) -> None:
    [worker] = [
        p
        for p in psutil.Process(up.process.pid).children()
        if "ingest" in p.cmdline() and "--source" in p.cmdline()
    ]
    worker.kill()
    wait_for(lambda: "ingest exited with -9; starting it again in 1 s" in up.output(), "the restart", 60)
    token = (up.data / "ingest-token").read_text().strip()

    def stored_again() -> bool:
        marker = f"/etc/restart/{uuid.uuid4().hex}"
        try:
            answer = httpx.post(
                up.ingest_url,
                content=wazuh_fim_event(marker),
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        except httpx.HTTPError:
            return False
        return answer.status_code == 202

    wait_for(stored_again, "the restarted worker to store an alert", 120)
    assert up.process.poll() is None


def test_a_forwarder_saved_while_up_runs_gets_the_stored_alerts_from_ups_forward_process(up: Up) -> None:
    receiver = GelfReceiver("tcp").start()
    try:
        user, password = up.auth()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
        env |= {"PREFECT_API_URL": up.api_url, "PREFECT_API_AUTH_STRING": f"{user}:{password}"}
        save = f"from blocks.forwarders import GelfForwarder as G; G(host='127.0.0.1', port={receiver.port}, backfill=True).save('up-graylog')"
        subprocess.run([sys.executable, "-c", save], env=env, cwd=REPO, check=True, timeout=120)
        store = create_engine(f"sqlite:///{up.data / 'alertflow.db'}")
        with store.connect() as conn:
            uuids = {r[0] for r in conn.execute(text("SELECT alert_uuid FROM alert"))}
        store.dispose()
        assert uuids
        # the forward process reloads its blocks every 30 s
        wait_for(lambda: receiver.uuids() >= uuids, "the stored alerts to reach the GELF input", 120)
        # the forward process's own metrics, on loopback: this forwarder's lag, 0 once caught up
        assert f"forwarders:   {up.forward_metrics_url}" in up.output()
        wait_for(
            lambda: (
                'alertflow_forwarder_lag_seconds{forwarder="up-graylog"} 0.0'
                in httpx.get(up.forward_metrics_url, timeout=10).text
            ),
            "the forwarder's lag gauge at 0",
            30,
        )
    finally:
        receiver.stop()


def test_no_file_up_made_can_be_read_by_another_user(up: Up) -> None:
    assert (up.data / "prefect" / "prefect.db").exists()
    assert not_private(up.data) == []
    assert readable_by_other_user(up.data) == []


def test_a_command_in_a_plain_shell_finds_ups_server_from_the_data_dir(up: Up) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALERTFLOW_"))}
    env |= {"ALERTFLOW_DATA_DIR": str(up.data), "ALERTFLOW_UP_PREFECT_PORT": str(up.prefect_port)}
    result = subprocess.run(
        [sys.executable, "-m", "alertflow", "playbook-runs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "demo-contain" in result.stdout


def test_the_rest_api_answers_over_tls_to_api_admin_with_the_password_up_wrote(up: Up) -> None:
    password_file, certfile = up.data / "api-admin", up.data / "api-cert.pem"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((up.data / "api-key.pem").stat().st_mode) == 0o600
    output = up.output()
    assert f"{up.rest_url}/api/v1" in output
    assert str(password_file) in output and str(certfile) in output
    auth = ("api-admin", password_file.read_text().strip())
    with httpx.Client(base_url=up.rest_url, verify=ssl.create_default_context(cafile=str(certfile))) as http:
        assert http.get("/api/v1/me").status_code == 401
        me = http.get("/api/v1/me", auth=auth)
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "admin"
        assert http.get("/alertflex-ctrl/rest/stix-alerts/status", auth=auth).json() == {"status": "ok"}
        demo = http.get(
            "/alertflex-ctrl/rest/stix-alerts/search",
            params={"query": "SELECT a FROM Alert a WHERE a.alertSource LIKE '%'"},
            auth=auth,
        )
        assert demo.status_code == 200 and len(demo.json()) >= 3, demo.text
    with pytest.raises(httpx.ConnectError):  # the certificate is up's own: the system CAs do not know it
        httpx.get(f"{up.rest_url}/api/v1/me", timeout=10)


def test_up_prints_the_console_url_and_api_admin_signs_in_there_over_tls(up: Up) -> None:
    assert f"console:      {up.rest_url}/" in up.output()
    certfile = up.data / "api-cert.pem"
    password = (up.data / "api-admin").read_text().strip()
    verify = ssl.create_default_context(cafile=str(certfile))
    with httpx.Client(base_url=up.rest_url, verify=verify, follow_redirects=False) as browser:
        assert browser.get("/").headers["location"].startswith("/login")
        page = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed_in = browser.post(
            "/login",
            data={
                "csrf_token": token.group(1),
                "username": "api-admin",
                "password": password,
                "next": "/alerts",
            },
        )
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/alerts"
        assert "Secure" in signed_in.headers["set-cookie"] and "HttpOnly" in signed_in.headers["set-cookie"]
        alerts = browser.get("/alerts")
        assert alerts.status_code == 200 and "Matching alerts" in alerts.text


def test_the_supervisor_stays_small(up: Up) -> None:
    # It imports no Prefect: 165 MB when it did (the catalog); 87 MB without, 103-120 MB since the
    # CLI grew (every command module, sqlalchemy, pydantic, prometheus-client); 150 still tells.
    rss_mb = psutil.Process(up.process.pid).memory_info().rss / 2**20
    assert rss_mb < 150


def test_sigterm_stops_every_child_cleanly(up: Up) -> None:
    parent = psutil.Process(up.process.pid)
    children = parent.children(recursive=True)
    assert len(children) >= 5  # prefect server, serve runner, ingest worker, REST API, forwarders
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(120) == 0, up.output()
    assert "alertflow stopped" in up.output()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{up.api_url}/health", timeout=5)
