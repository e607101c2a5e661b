"""Secrets never leak: `alertflow up` on MariaDB with known, distinctive secrets in every block
and setting; every path that logs or answers is exercised, failures and tracebacks included
(wrong credentials at a local fake server, an unreachable host, a failing playbook); then every
file under the test's directory (logs, data dir, Prefect's database), every API answer, Prefect's
logs and flow run parameters and every row of the alert store are searched for the secrets."""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest

from alertflow.up.prefect_server import free_port
from bench.support.stack import REPO, Up
from tests.conftest import MARIADB_HOST, MARIADB_PORT, fresh_mariadb_database

pytestmark = pytest.mark.integration

SID = 9000103
PROFILES = f"""\
response_profiles:
  - name: leak-block
    match: {{source: Suricata, event: "{SID}"}}
    actions:
      - {{kind: playbook, deployment: block-attacker/always}}
"""
SECRET_NAMES = (
    "smtp", "slack", "twilio", "jira", "thehive", "misp", "mispdb", "zap", "sandbox",
    "sshpass", "sshkey", "sshphrase", "prefect", "ingest", "apiadmin", "db",
)  # fmt: skip
SENT_TO_FAKE = (
    "slack",
    "twilio",
    "jira",
    "thehive",
    "misp",
)  # these reach the fake server: proof they were used


class FakeService:
    """Answers every request 401 (wrong credentials) and keeps what it was sent, on a loopback port."""

    def __init__(self) -> None:
        received: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a client that stalls cannot hold a handler thread

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                received.append(
                    bytes(str(self.headers), "latin-1") + self.path.encode() + self.rfile.read(length)
                )
                body = b'{"ok": false, "error": "invalid_auth", "message": "Unauthorized"}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *_: object) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """shutdown() from another thread with a deadline, then close the socket: never hangs teardown."""
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)
        stopper.start()
        stopper.join(10)
        self.thread.join(10)
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeService]:
    service = FakeService()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def secrets() -> dict[str, str]:
    return {name: f"LEAK{name.upper()}{uuid.uuid4().hex}" for name in SECRET_NAMES}


@pytest.fixture
def store_url(secrets: dict[str, str]) -> Iterator[str]:
    """A MariaDB database reached by a user whose password is a known secret."""
    user = f"leak_{uuid.uuid4().hex[:8]}"
    with fresh_mariadb_database() as root_url:
        name = root_url.rsplit("/", 1)[1]
        admin = pymysql.connect(
            host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True
        )
        try:
            with admin.cursor() as cur:
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (secrets["db"],))
                    cur.execute(f"GRANT ALL ON `{name}`.* TO '{user}'@'{host}'")
            yield f"mysql+pymysql://{user}:{secrets['db']}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
        finally:
            with admin.cursor() as cur:
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
            admin.close()


BLOCKS_AND_FLOW = r"""
import asyncio, json, sys
from prefect import flow, get_run_logger
from blocks.credentials import CredentialProfile
from blocks.host import HostProfile
from blocks.ids import IdsSensor
from blocks.jira import JiraSite
from blocks.misp import MispServer
from blocks.sandbox import SandboxService
from blocks.slack import SlackWorkspace
from blocks.smtp import SmtpServer
from blocks.thehive import TheHiveServer
from blocks.twilio import TwilioAccount
from blocks.zap import ZapScanner
from tasks.email import send_email_report
from tasks.jira import create_jira_issue
from tasks.misp import look_up_iocs_in_misp_db, search_misp_attributes
from tasks.slack import send_slack_message
from tasks.ssh import run_script
from tasks.thehive import create_thehive_alert
from tasks.twilio import send_sms

spec = json.loads(sys.stdin.read())
S, fake, closed = spec["secrets"], spec["fake"], spec["closed_port"]
key = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + S["sshkey"] + "\n-----END OPENSSH PRIVATE KEY-----\n"
credential = CredentialProfile(username="root", password=S["sshpass"], private_key=key, passphrase=S["sshphrase"])
host = HostProfile(name="leaky", address="127.0.0.1", port=closed, credential=credential,
                   verify_host_key=False, connect_timeout_s=3)
host.save("leak", overwrite=True)
IdsSensor(host=host, kind="suricata", blocklist_path="/tmp/leak-blocklist").save("default", overwrite=True)
SmtpServer(username="soc", password=S["smtp"], smtp_server="127.0.0.1", smtp_port=closed, smtp_type="INSECURE",
           sender="soc@example.org", timeout_s=3).save("leak", overwrite=True)
SlackWorkspace(token=S["slack"], default_channel="#soc", base_url=fake + "/slack/", max_retries=0).save(
    "leak", overwrite=True)
TwilioAccount(account_sid="AC" + "0" * 32, auth_token=S["twilio"], from_number="+15005550006",
              api_base_url=fake, max_retries=0).save("leak", overwrite=True)
JiraSite(url=fake, username="soc", api_token=S["jira"], project="SOC", max_retries=0).save("leak", overwrite=True)
TheHiveServer(url=fake, api_key=S["thehive"], max_retries=0).save("leak", overwrite=True)
MispServer(url=fake, api_key=S["misp"], max_retries=0,
           database_url=f"mysql+pymysql://misp:{S['mispdb']}@127.0.0.1:{closed}/misp").save("leak", overwrite=True)
ZapScanner(proxy_url=fake, api_key=S["zap"], target_prefixes=["http://127.0.0.1/"]).save("leak", overwrite=True)
SandboxService(backend="cuckoo", url=fake, api_key=S["sandbox"]).save("leak", overwrite=True)

ALERT = {"alert_uuid": "00000000-0000-5000-8000-000000000001", "description": "leak check", "severity": 2,
         "source": "Suricata", "event": "1", "category": "", "srcip": "192.0.2.1", "dstip": "198.51.100.1",
         "node_id": "n", "ref_id": "r", "type": "NET", "info": "", "location": "", "sensor": "s",
         "time_of_event": "2026-12-01T00:00:00Z"}

@flow(name="leak-check")
async def exercise(block: str) -> int:
    log = get_run_logger()
    states = [
        await send_email_report(await SmtpServer.load(block), ["a@example.org"], "s", {"alert": ALERT},
                                return_state=True),
        await send_slack_message(await SlackWorkspace.load(block), "hello", return_state=True),
        await send_sms(await TwilioAccount.load(block), "+15005550009", "hello", return_state=True),
        await create_jira_issue(await JiraSite.load(block), "summary", "description", return_state=True),
        await create_thehive_alert(await TheHiveServer.load(block), ALERT, return_state=True),
        await search_misp_attributes(await MispServer.load(block), "192.0.2.1", return_state=True),
        await look_up_iocs_in_misp_db(await MispServer.load(block), ["192.0.2.1"], return_state=True),
        await run_script(await HostProfile.load(block), ["true"], return_state=True),
    ]
    failed = [s.name for s in states if s.is_failed()]
    log.info("%d of %d calls failed as they should", len(failed), len(states))
    raise RuntimeError(f"leak-check fails on purpose after {len(states)} calls")

asyncio.run(exercise("leak", return_state=True))
"""


def _prefect_env(up: Up) -> dict[str, str]:
    return {
        **up.env,
        "PREFECT_API_URL": str(up.prefect.base_url).rstrip("/"),
        "PREFECT_API_AUTH_STRING": (up.data / "prefect-auth").read_text().strip(),
    }


def _wait(condition: Any, what: str, timeout_s: float = 120) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)
    return value


def _leaks(text: bytes, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value.encode() in text]


def _with_basic_auth(secrets: dict[str, str]) -> dict[str, str]:
    """The secrets, plus the `Authorization: Basic` value each user:secret pair travels as."""
    pairs = {
        "jira-basic": f"soc:{secrets['jira']}",
        "twilio-basic": f"AC{'0' * 32}:{secrets['twilio']}",
        "prefect-basic": f"alertflow:{secrets['prefect']}",
        "apiadmin-basic": f"api-admin:{secrets['apiadmin']}",
    }
    return secrets | {name: base64.b64encode(pair.encode()).decode() for name, pair in pairs.items()}


def test_no_secret_appears_in_any_log_answer_file_or_database(
    tmp_path: Path, secrets: dict[str, str], store_url: str, fake: FakeService
) -> None:
    data = tmp_path / "up" / "data"
    data.mkdir(parents=True, mode=0o700)
    data.parent.chmod(0o700)
    secret_files = {
        "prefect-auth": f"alertflow:{secrets['prefect']}",
        "ingest-token": secrets["ingest"],
        "api-admin": secrets["apiadmin"],
    }
    for name, value in secret_files.items():
        path = data / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    closed_port = free_port()  # nothing listens there: the unreachable host
    answers: list[tuple[str, bytes]] = []
    up = Up(data, extra_env={"ALERTFLOW_DATABASE_URL": store_url})
    try:
        # blocks with every secret, then a flow whose every call fails against them (tracebacks in Prefect)
        spec = {"secrets": secrets, "fake": fake.url, "closed_port": closed_port}
        done = subprocess.run(
            [sys.executable, "-c", BLOCKS_AND_FLOW],
            cwd=REPO,
            env=_prefect_env(up),
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=150,
        )
        answers.append(("leak-check flow output", (done.stdout + done.stderr).encode()))
        assert "leak-check fails on purpose" in done.stdout + done.stderr, done.stderr[-3000:]

        # a failing playbook: a matching alert → dispatcher → block-attacker on an unreachable sensor
        (tmp_path / "profiles.yaml").write_text(PROFILES)
        answers.append(
            ("profiles import", up.cli("profiles", "import", str(tmp_path / "profiles.yaml")).encode())
        )
        answers.append(("db stats", up.cli("db", "stats", check=False).encode()))
        answers.append(("outbox list", up.cli("outbox", "list", check=False).encode()))
        event = {
            "timestamp": "2026-12-01T00:00:00.000000+0000",
            "event_type": "alert",
            "src_ip": "192.0.2.77",
            "dest_ip": "198.51.100.20",
            "proto": "TCP",
            "alert": {"signature_id": SID, "signature": "leak check", "category": "x", "severity": 1},
        }
        ingest = up.ingest.post("/ingest", content=json.dumps(event).encode())
        assert ingest.status_code == 202, ingest.text
        answers.append(("ingest 202", ingest.content))
        wrong = httpx.post(
            f"{up.ingest.base_url}/ingest", content=b"{}", headers={"Authorization": "Bearer " + "x" * 40}
        )
        answers.append(("ingest 401", wrong.content))
        bad = up.ingest.post("/ingest", content=b'{"not": "an alert"}\nnot json\n')
        answers.append(("ingest 400", bad.content))
        deployment = up.prefect.get("/deployments/name/block-attacker/always").json()

        def playbook_failed() -> bool:
            runs = up.prefect.post(
                "/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment["id"]]}}}
            ).json()
            return any(r["state_type"] in ("FAILED", "CRASHED") for r in runs)

        _wait(playbook_failed, "the block-attacker run on the unreachable sensor to fail", 150)

        # the REST API: right and wrong passwords, errors, lists
        with httpx.Client(
            base_url=f"https://127.0.0.1:{up.api_port}",
            verify=ssl.create_default_context(cafile=str(data / "api-cert.pem")),
            timeout=30,
        ) as api:
            admin = ("api-admin", secrets["apiadmin"])
            for method, path, auth, body in [
                ("GET", "/api/v1/health", admin, None),
                ("GET", "/api/v1/me", admin, None),
                ("GET", "/api/v1/me", ("api-admin", secrets["apiadmin"] + "x"), None),
                ("GET", "/api/v1/alerts?limit=50", admin, None),
                ("GET", "/api/v1/alerts?limit=notanumber", admin, None),
                ("GET", "/api/v1/users", admin, None),
                ("GET", "/api/v1/audit", admin, None),
                ("GET", "/api/v1/incidents", admin, None),
                ("POST", "/api/v1/users", admin, {"name": "x", "password": 1}),
                ("GET", "/api/v1/response-profiles", admin, None),
                ("GET", "/alertflex-ctrl/rest/stix-alerts/status", admin, None),
            ]:
                response = api.request(method, path, auth=auth, json=body)
                assert response.status_code < 500, (path, response.status_code, response.text)
                answers.append((f"API {method} {path} {response.status_code}", response.content))

        # Prefect's API: block documents (secrets masked), flow runs (parameters), every log line
        prefect_logs: list[dict[str, Any]] = []
        offset = 0
        while page := up.prefect.post("/logs/filter", json={"limit": 200, "offset": offset}).json():
            prefect_logs += page
            offset += len(page)
        answers.append(("Prefect logs", json.dumps(prefect_logs).encode()))
        for path in (
            "/block_documents/filter",
            "/flow_runs/filter",
            "/task_runs/filter",
            "/deployments/filter",
        ):
            answers.append((f"Prefect {path}", up.prefect.post(path, json={"limit": 200}).content))
        assert len(prefect_logs) > 20
        log_text = json.dumps(prefect_logs)
        assert "Traceback" in log_text and "leak-check fails on purpose" in log_text  # the failures are there
        assert "127.0.0.1" in log_text  # the unreachable host and the fake service are named
    finally:
        up.stop()

    # the secrets really were used: each reached the fake service
    needles = _with_basic_auth(secrets)
    sent = b"\n".join(fake.received)
    used = {name.removesuffix("-basic") for name in _leaks(sent, needles)}
    assert used >= set(SENT_TO_FAKE), f"not sent to the fake service: {set(SENT_TO_FAKE) - used}"

    found: dict[str, list[str]] = {}
    for label, content in answers:
        if leaked := _leaks(content, needles):
            found[label] = leaked
    files = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.suffix == ".log" for p in files) and any(p.name.endswith(".db") for p in files)
    for path in files:
        if path.parent == data and path.name in secret_files:
            continue  # where the secrets are kept on purpose (mode 0600)
        if leaked := _leaks(path.read_bytes(), needles):
            found[str(path.relative_to(tmp_path))] = leaked
    found |= _store_leaks(store_url, needles)
    assert found == {}, f"secrets found: {found}"
    assert os.environ.get("ALERTFLOW_DATABASE_URL") is None  # nothing leaked into the test's own env


def _store_leaks(store_url: str, secrets: dict[str, str]) -> dict[str, list[str]]:
    """Every row of every table of the alert store, searched."""
    name = store_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", database=name)
    found: dict[str, list[str]] = {}
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            for (table,) in cur.fetchall():
                cur.execute(f"SELECT * FROM `{table}`")  # noqa: S608 (a name SHOW TABLES gave)
                if leaked := _leaks(repr(cur.fetchall()).encode(), secrets):
                    found[f"alert store table {table}"] = leaked
    finally:
        conn.close()
    return found
