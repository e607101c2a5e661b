"""The STIX endpoint over HTTP, and the real STIX-shifter alertflex connector (8.1.3) against it over HTTPS."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from alertflow.api.alert_queries import ALERTS
from alertflow.api.app import create_app
from tests.alertfactory import make_alert, store_batch
from tests.tls_files import self_signed

from .conftest import PASSWORD, TENANT_A, TENANT_B, LiveApi
from .live import serve

REPO = Path(__file__).parents[3]
STATUS = "/alertflex-ctrl/rest/stix-alerts/status"
SEARCH = "/alertflex-ctrl/rest/stix-alerts/search"
IDENTITY = {
    "type": "identity",
    "id": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
    "name": "alertflow",
    "identity_class": "system",
}
COLLECTED = datetime(2026, 5, 4, 3, 2, 1, 500000, tzinfo=UTC)


@dataclass
class Marked:
    """Alerts only this module stores: one per tenant sharing `ip`, and their uuids."""

    ip: str
    agent: str
    uuids: dict[str, str]


@pytest.fixture(scope="module")
def marked(live_api: LiveApi) -> Marked:
    ip = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    agent = f"stix-{uuid.uuid4().hex[:8]}"
    uuids = {}
    for tenant, srcport in ((TENANT_A, 40001), (TENANT_B, 40002)):
        row = make_alert(
            ref_id=tenant,
            srcip=ip,
            dstip="203.0.113.9",
            srcport=srcport,
            dstport=443,
            proto="TCP",
            agent=agent,
            severity=3,
            event="2001219",
            source="Suricata",
            category="IDS",
            user="root",
            file="evil.bin",
            process="curl",
            hash_sha256="ab" * 32,
            info="indef",
            time_collr=COLLECTED,
        )
        store_batch(live_api.engine, [row])
        uuids[tenant] = str(row["alert_uuid"])
    return Marked(ip, agent, uuids)


def search(live_api: LiveApi, user: str, query: str) -> Any:
    with live_api.client(user) as client:
        return client.get(SEARCH, params={"query": query})


def test_status_answers_json_to_a_viewer(live_api: LiveApi) -> None:
    with live_api.client("viewer") as client:
        response = client.get(STATUS)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_search_answers_a_flat_json_array_in_the_connectors_field_names(
    live_api: LiveApi, marked: Marked
) -> None:
    response = search(live_api, "viewer", f"SELECT a FROM Alert a WHERE a.srcIp = '{marked.ip}'")
    assert response.status_code == 200
    alerts = response.json()
    assert isinstance(alerts, list)
    assert {a["srcport"] for a in alerts} == {40001, 40002}
    alert = alerts[0]
    assert alert["create_time"] == int(COLLECTED.timestamp() * 1000)
    assert {k: alert[k] for k in ("srcip", "dstip", "dstport", "protocol", "severity", "sha256")} == {
        "srcip": marked.ip,
        "dstip": "203.0.113.9",
        "dstport": 443,
        "protocol": "TCP",
        "severity": 3,
        "sha256": "ab" * 32,
    }
    assert {k: alert[k] for k in ("user", "file", "process", "agent", "source", "event", "type")} == {
        "user": "root",
        "file": "evil.bin",
        "process": "curl",
        "agent": marked.agent,
        "source": "Suricata",
        "event": "2001219",
        "type": "NET",
    }
    assert "info" not in alert and "md5" not in alert, "indef values are left out"


def test_search_keeps_a_tenant_bound_viewer_to_its_tenant(live_api: LiveApi, marked: Marked) -> None:
    response = search(live_api, "viewer-b", f"SELECT a FROM Alert a WHERE a.agentName = '{marked.agent}'")
    assert [a["srcport"] for a in response.json()] == [40002]
    everything = search(live_api, "viewer-b", "SELECT a FROM Alert a WHERE a.alertSeverity >= 0").json()
    with live_api.engine.connect() as conn:
        tenant_b = conn.execute(select(func.count()).where(ALERTS.c.ref_id == TENANT_B)).scalar_one()
    assert len(everything) == min(tenant_b, 10_000)


def test_an_address_on_either_side_answers_each_matching_alert_once_newest_first(live_api: LiveApi) -> None:
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    other = "203.0.113.77"
    sides = [  # (srcip, dstip, srcport as a marker, seconds after COLLECTED)
        (ip, other, 1, 1),
        (other, ip, 2, 2),
        (ip, ip, 3, 3),  # matches both alternatives: answered once
        (other, other, 4, 4),  # matches neither
        (ip, other, 5, 5),
        (ip, other, 5, 5),  # the same fields as the one before, another alert: answered too
    ]
    rows = [
        make_alert(srcip=src, dstip=dst, srcport=port, time_collr=COLLECTED.replace(second=sec))
        for src, dst, port, sec in sides
    ]
    store_batch(live_api.engine, rows)
    window = "a.timeCollr BETWEEN '2026-05-04 00:00:00.000' AND '2026-05-05 00:00:00.000'"
    query = f"SELECT a FROM Alert a WHERE (a.dstIp = '{ip}' OR a.srcIp = '{ip}') AND {window}"
    response = search(live_api, "viewer", query)
    assert response.status_code == 200
    assert [a["srcport"] for a in response.json()] == [5, 5, 3, 2, 1]


HOSTILE = {
    "description": 'quote " backslash \\ slash / <script>alert(1)</script> \u00e9\u4e2d\U0001f600',
    "user": "tab\tnew\nline\r" + "".join(chr(i) for i in range(1, 32)),
    "file": "C:\\Windows\\evil.exe\u2028\u2029",
    "process": "', 1); DROP TABLE alert; --",
    "category": '{"a": [1]}',
}


def test_every_value_is_answered_exactly_as_stored(live_api: LiveApi) -> None:
    """The database builds each alert's JSON: hostile text, milliseconds and left-out fields survive it."""
    agent = f"hostile-{uuid.uuid4().hex[:8]}"
    times = [COLLECTED.replace(microsecond=us) for us in (999999, 1000, 0)]
    rows = [
        make_alert(agent=agent, srcport=0, dstport=n, info="", hash_md5="indef", time_collr=at, **HOSTILE)
        for n, at in enumerate(times, start=1)
    ]
    store_batch(live_api.engine, rows)
    response = search(live_api, "viewer", f"SELECT a FROM Alert a WHERE a.agentName = '{agent}'")
    assert response.status_code == 200
    alerts = response.json()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [a["create_time"] for a in alerts] == [(at - epoch) // timedelta(milliseconds=1) for at in times]
    assert [a["create_time"] % 1000 for a in alerts] == [999, 1, 0]
    for alert, row in zip(alerts, rows, strict=True):
        assert {k: alert[k] for k in HOSTILE} == HOSTILE
        assert alert["dstport"] == row["dstport"] and alert["agent"] == agent
        assert "srcport" not in alert and "info" not in alert and "md5" not in alert


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT a FROM Alert a WHERE a.srcIp = '1.2.3.4'; DROP TABLE alert", 2000),
        ("SELECT a FROM Alert a WHERE (a.srcIp = '1.2.3.4'", 2000),
        ("anything at all", 2000),
        ("SELECT a FROM Alert a WHERE a.password = 'x'", 1005),
    ],
)
def test_a_bad_query_is_400_in_the_connectors_error_shape(live_api: LiveApi, query: str, code: int) -> None:
    response = search(live_api, "viewer", query)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["messages"][0]["text"] == body["message"]
    with live_api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ALERTS)).scalar_one() > 0


def test_an_injection_attempt_in_a_value_matches_nothing(live_api: LiveApi, marked: Marked) -> None:
    query = f"SELECT a FROM Alert a WHERE a.agentName = '{marked.agent}'' OR ''1''=''1'"
    response = search(live_api, "viewer", query)
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    "where",
    [
        "a.fileName LIKE 'x\\\\'",
        "a.fileName LIKE '\\\\%'",
        "a.userName = '\U0001f600' OR a.userName = 'a\x00b'",
        "a.description LIKE '%' OR a.info != ''",
        "a.alertSeverity LIKE '%3%'",
        "a.srcPort IN (" + ", ".join(str(n) for n in range(1500)) + ")",
        "a.timeCollr BETWEEN '1000-01-01' AND '9999-12-31 23:59:59.999999'",
        "a.srcIp = '::ffff:10.0.0.1' OR a.dstIp != '10.0.0.0/8'",
        "NOT " * 60 + "a.fileName = 'x'",
    ],
)
def test_a_hostile_query_is_answered_without_a_server_error(live_api: LiveApi, where: str) -> None:
    response = search(live_api, "viewer", "SELECT a FROM Alert a WHERE " + where)
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)


def test_search_without_credentials_is_401(live_api: LiveApi) -> None:
    with live_api.client(None) as client:
        assert (
            client.get(SEARCH, params={"query": "SELECT a FROM Alert a WHERE a.srcPort = 1"}).status_code
            == 401
        )
        assert client.get(STATUS).status_code == 401


# --- the real connector -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stix_shifter() -> Path:
    """The stix-shifter CLI of scripts/stix-shifter-venv.sh (installed on first use)."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "stix-shifter-venv.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/stix-shifter-venv.sh could not install stix-shifter:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class Https:
    """The live API's store served over HTTPS with a self-signed certificate."""

    port: int
    cert_pem: str


@pytest.fixture(scope="module")
def https_api(live_api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    certfile, keyfile = self_signed(tmp_path_factory.mktemp("tls"))
    with serve(create_app(live_api.engine), tls=(certfile, keyfile)) as base_url:
        yield Https(int(base_url.rsplit(":", 1)[1]), certfile.read_text())


def connector(stix_shifter: Path, https: Https, user: str, password: str, *args: str) -> Any:
    """Run the connector CLI; its JSON answer from stdout."""
    connection = json.dumps({"host": "127.0.0.1", "port": https.port, "selfSignedCert": https.cert_pem})
    configuration = json.dumps({"auth": {"username": user, "password": password}})
    command = [str(stix_shifter)]
    if args[0] == "execute":
        command += [
            "execute",
            "alertflex",
            "alertflex",
            json.dumps(IDENTITY),
            connection,
            configuration,
            *args[1:],
        ]
    else:
        command += ["transmit", "alertflex", connection, configuration, *args]
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_the_connector_pings_over_https_and_reports_a_wrong_password(
    stix_shifter: Path, https_api: Https
) -> None:
    assert connector(stix_shifter, https_api, "viewer", PASSWORD, "ping") == {"success": True}
    refused = connector(stix_shifter, https_api, "viewer", "wrong password", "ping")
    assert refused["success"] is False
    assert refused["code"] == "unknown"


def test_the_connector_is_synchronous_and_fetches_results_of_a_query(
    stix_shifter: Path, https_api: Https, marked: Marked
) -> None:
    query = f"SELECT a FROM Alert a WHERE (a.dstIp = '{marked.ip}' OR a.srcIp = '{marked.ip}')"
    assert connector(stix_shifter, https_api, "viewer", PASSWORD, "is_async") is False
    assert connector(stix_shifter, https_api, "viewer", PASSWORD, "query", query) == {
        "success": True,
        "search_id": query,
    }
    results = connector(stix_shifter, https_api, "viewer", PASSWORD, "results", query, "0", "5")
    assert results["success"] is True
    assert sorted(a["srcport"] for a in results["data"]) == [40001, 40002]


def test_the_connector_reports_a_query_that_does_not_parse(stix_shifter: Path, https_api: Https) -> None:
    results = connector(stix_shifter, https_api, "viewer", PASSWORD, "results", "SELECT nonsense", "0", "5")
    assert results["success"] is False
    assert results["code"] == "invalid_query"


def test_the_connector_translates_a_stix_pattern_and_returns_the_tenants_alerts_as_stix(
    stix_shifter: Path, https_api: Https, marked: Marked
) -> None:
    pattern = f"[ipv4-addr:value = '{marked.ip}'] AND [x_org_alertflex:agent = '{marked.agent}']"
    bundle = connector(stix_shifter, https_api, "analyst-a", PASSWORD, "execute", pattern)
    observed = [o for o in bundle["objects"] if o["type"] == "observed-data"]
    assert len(observed) == 1, "analyst-a sees tenant-a's alert only"
    objects = observed[0]["objects"].values()
    finding = next(o for o in objects if o["type"] == "x-org-alertflex")
    assert finding["agent"] == marked.agent
    assert finding["severity"] == 3
    assert finding["finding_type"] == "NET"
    traffic = next(o for o in objects if o["type"] == "network-traffic")
    assert (traffic["src_port"], traffic["dst_port"]) == (40001, 443)
    assert traffic["protocols"] == ["tcp"]
    assert marked.ip in {o.get("value") for o in objects if o["type"] == "ipv4-addr"}
    assert observed[0]["first_observed"].startswith("2026-05-04T03:02:01.5")
