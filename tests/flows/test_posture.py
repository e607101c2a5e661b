"""The posture flow for real: oscap over SSH on a loopback sshd host, a Wazuh API answering its
documented shapes, nmap against loopback; findings recorded, the chosen ones raised as alerts
that `alertflow ingest-file` stores.

The OpenSCAP content is derived from the real ssg-debian11 OVAL file: four definitions (and
what they use), with the /etc/passwd permission check pointed at a file in the test host's
directory, so the test can change that setting without touching this machine's /etc.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlmodel import Session
from werkzeug import Request, Response

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel.engine import make_engine
from alertmodel.posture import list_findings, report_history
from blocks.wazuh import WazuhApi
from flows.posture import posture
from tasks.openscap import DEBIAN_OVAL, oval_subset
from tests.integration.sensors.kit import cli_env, new_store, required_tool, stored_alerts
from tests.integration.sensors.test_openscap_live import SEVERITY, _expected_failures

pytestmark = pytest.mark.integration

PASSWD = "oval:ssg-file_permissions_etc_passwd:def:1"
DEFINITIONS = [
    PASSWD,
    "oval:ssg-package_aide_installed:def:1",
    "oval:ssg-package_telnetd_removed:def:1",
    "oval:ssg-sshd_disable_root_login:def:1",
]


def derived_content(root: Path) -> tuple[Path, Path]:
    """The four-definition content, its passwd check reading `root/passwd` (mode 0644: passes)."""
    passwd = root / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    passwd.chmod(0o644)
    subset = oval_subset(Path(DEBIAN_OVAL).read_bytes(), DEFINITIONS).decode()
    real = "<unix:filepath>/etc/passwd</unix:filepath>"
    assert subset.count(real) == 1, "the SSG passwd check changed shape"
    content = root / f"content-{uuid.uuid4().hex[:8]}.xml"
    content.write_text(subset.replace(real, f"<unix:filepath>{passwd}</unix:filepath>"))
    content.chmod(0o644)
    return content, passwd


def ingest(files: list[str], url: str) -> list[dict[str, Any]]:
    for file in files:
        done = subprocess.run(
            [sys.executable, "-m", "alertflow", "ingest-file", file, "--source", "generic"],
            env=cli_env(url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "dead-lettered: 0" in done.stderr, done.stderr
    return stored_alerts(url)


async def test_oscap_over_ssh_raises_new_findings_once_and_a_changed_setting_exactly_its_own(
    prefect_server: LocalPrefectServer, ssh_hosts: Any, tmp_path: Path
) -> None:
    required_tool("oscap")
    host = ssh_hosts.hosts[0]
    block = f"posture-{uuid.uuid4().hex[:8]}"
    await ssh_hosts.profile(0).save(block)
    content, passwd = derived_content(Path(host["root"]))
    url = new_store(tmp_path)
    drop = tmp_path / "drop"
    failing = {d for d, failed in _expected_failures().items() if failed and d != PASSWD}
    run = {
        "openscap_hosts": [block],
        "oscap_content": str(content),
        "oscap_definitions": DEFINITIONS,
        "alerts_dir": str(drop),
    }

    first = await posture(**run, database_url=SecretStr(url))
    second = await posture(**run, database_url=SecretStr(url))
    passwd.chmod(0o666)
    third = await posture(**run, database_url=SecretStr(url))

    assert [(r.findings, r.new, r.resolved, r.raised) for r in (*first.reports, *second.reports)] == [
        (len(failing), len(failing), 0, len(failing)),
        (len(failing), 0, 0, 0),
    ]
    assert second.alerts_file is None
    [report] = third.reports
    assert (report.new, report.resolved, report.raised) == (1, 0, 1)
    alerts = ingest([first.alerts_file, third.alerts_file], url)  # type: ignore[list-item]
    assert sorted(a["event"] for a in alerts) == sorted([*failing, PASSWD])
    assert alerts[-1]["event"] == PASSWD
    for alert in alerts:
        assert (alert["source"], alert["category"], alert["agent"]) == ("OpenSCAP", "posture", host["name"])
        assert alert["severity"] == SEVERITY[alert["event"]]
    assert (
        next(a for a in alerts if a["event"] == PASSWD)["description"] == "Verify Permissions on passwd File"
    )

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert len(report_history(session, host=host["name"])) == 3
            assert {f.check_id for f in list_findings(session, host=host["name"])} == {*failing, PASSWD}
    finally:
        engine.dispose()


# Wazuh server API answers, in the shapes of its OpenAPI spec (wazuh/wazuh api/api/spec/spec.yaml:
# every answer {"data": {"affected_items", "total_affected_items", "total_failed_items",
# "failed_items"}, "message", "error"}; SCA check items with id, title, compliance, result ...).
TOKEN = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.test.token"


def _answer(items: list[dict[str, Any]], message: str) -> dict[str, Any]:
    return {
        "data": {
            "affected_items": items,
            "total_affected_items": len(items),
            "total_failed_items": 0,
            "failed_items": [],
        },
        "message": message,
        "error": 0,
    }


def _check(check_id: int, title: str, result: str) -> dict[str, Any]:
    return {
        "id": check_id,
        "policy_id": "cis_debian11",
        "title": title,
        "description": "d",
        "rationale": "r",
        "remediation": "rem",
        "command": "sshd -T",
        "condition": "all",
        "compliance": [{"key": "cis", "value": "5.2.10"}, {"key": "pci_dss", "value": "2.2.4"}],
        "rules": [{"type": "command", "rule": "c:sshd -T -> r:^permitrootlogin\\s+no"}],
        "result": result,
    }


class FakeWazuh:
    """A Wazuh API on loopback: login with basic auth, then the bearer token on every call."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.checks = [_check(28500, "Ensure SSH root login is disabled", "failed")]
        server.expect_request("/security/user/authenticate", method="POST").respond_with_handler(self.login)
        server.expect_request("/agents", method="GET").respond_with_handler(self.agents)
        server.expect_request("/sca/001", method="GET").respond_with_handler(self.policies)
        server.expect_request("/sca/001/checks/cis_debian11", method="GET").respond_with_handler(self.failed)

    def login(self, request: Request) -> Response:
        ok = request.authorization is not None and (
            request.authorization.username,
            request.authorization.password,
        ) == (
            "wazuh-wui",
            "wazuh-secret",
        )
        if not ok:
            return Response(
                '{"title": "Unauthorized", "error": 401}', status=401, content_type="application/json"
            )
        return Response(orjson.dumps({"data": {"token": TOKEN}, "error": 0}), content_type="application/json")

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def agents(self, request: Request) -> Response:
        assert self._authorized(request) and request.args["agents_list"] == "001"
        body = _answer(
            [{"id": "001", "name": "db-01", "status": "active"}],
            "All selected agents information was returned",
        )
        return Response(orjson.dumps(body), content_type="application/json")

    def policies(self, request: Request) -> Response:
        assert self._authorized(request)
        policy = {"policy_id": "cis_debian11", "name": "CIS Benchmark for Debian 11", "pass": 90, "fail": 2}
        return Response(orjson.dumps(_answer([policy], "All selected sca information was returned")))

    def failed(self, request: Request) -> Response:
        assert self._authorized(request) and request.args["result"] == "failed"
        items = [c for c in self.checks if c["result"] == "failed"]
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        body = _answer(items[offset : offset + limit], "All selected sca/checks information was returned")
        body["data"]["total_affected_items"] = len(items)
        return Response(orjson.dumps(body), content_type="application/json")


async def test_wazuh_sca_and_nmap_reports_go_through_the_same_findings_and_modes(
    prefect_server: LocalPrefectServer, ssh_hosts: Any, httpserver: HTTPServer, tmp_path: Path
) -> None:
    required_tool("nmap")
    wazuh = FakeWazuh(httpserver)
    block = f"wazuh-{uuid.uuid4().hex[:8]}"
    await WazuhApi(url=httpserver.url_for("/"), username="wazuh-wui", password="wazuh-secret").save(block)
    host = ssh_hosts.hosts[1]
    url = new_store(tmp_path)
    run = {
        "wazuh": block,
        "wazuh_agents": ["001"],
        "nmap_targets": [host["address"]],
        "nmap_ports": str(host["port"]),
        "modes": {"wazuh-sca": "all", "nmap": "new"},
        "alerts_dir": str(tmp_path / "drop"),
        "database_url": SecretStr(url),
    }

    first = await posture(**run)
    wazuh.checks.append(_check(28501, "Ensure SSH X11 forwarding is disabled", "failed"))
    second = await posture(**run)

    assert [(r.report_type, r.host, r.findings, r.new, r.raised) for r in first.reports] == [
        ("wazuh-sca", "db-01", 1, 1, 1),
        ("nmap", host["address"], 1, 1, 1),
    ]
    assert [(r.report_type, r.host, r.findings, r.new, r.raised) for r in second.reports] == [
        ("wazuh-sca", "db-01", 2, 1, 2),  # "all": both checks again
        ("nmap", host["address"], 1, 0, 0),  # "new": the same port raises nothing
    ]
    alerts = ingest([first.alerts_file, second.alerts_file], url)  # type: ignore[list-item]
    assert [(a["source"], a["event"], a["agent"], a["severity"]) for a in alerts] == [
        ("Wazuh SCA", "cis_debian11:28500", "db-01", 2),
        ("Nmap", f"tcp/{host['port']}", host["address"], 1),
        ("Wazuh SCA", "cis_debian11:28500", "db-01", 2),
        ("Wazuh SCA", "cis_debian11:28501", "db-01", 2),
    ]
    nmap_alert = alerts[1]
    assert (nmap_alert["dstip"], nmap_alert["dstport"], nmap_alert["category"]) == (
        host["address"],
        host["port"],
        "posture",
    )
    assert "cis:5.2.10" in alerts[0]["info"]


async def test_wazuh_agents_without_a_wazuh_block_are_refused() -> None:
    with pytest.raises(ValueError, match="wazuh_agents need a WazuhApi block"):
        await posture.fn(wazuh_agents=["001"])


async def test_an_unknown_mode_is_refused_before_anything_is_scanned() -> None:
    with pytest.raises(ValueError, match=r"modes\['nmap'\] must be one of all, unconfirmed, new"):
        await posture.fn(nmap_targets=["127.0.0.1"], modes={"nmap": "latest"})
