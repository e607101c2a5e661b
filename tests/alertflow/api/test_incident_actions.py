"""`POST /incidents/{id}/notify` and `/escalate` against the live API: a real SMTP server, the real Slack,
JIRA and TheHive SDKs talking to local servers that answer each product's JSON, blocks on the real
Prefect server; an escalation is sent once."""

from __future__ import annotations

import asyncio
import json
import uuid

from pytest_httpserver import HTTPServer
from sqlalchemy import select

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import AuditEntry
from response.incidents import open_incident
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.conftest import SmtpSink
from tests.integration.response.test_notifications import save_smtp_block
from tests.response.test_products import save_blocks, serve_products

from .conftest import TENANT_A, TENANT_B, LiveApi


def _incident(live_api: LiveApi, tenant: str = TENANT_A) -> tuple[int, str]:
    row = make_alert(ref_id=tenant)
    store_batch(live_api.engine, [row])
    incident = open_incident(live_api.engine, row["alert_uuid"], actor="setup")
    assert incident.id is not None
    return incident.id, str(row["alert_uuid"])


def _group(live_api: LiveApi) -> str:
    name = f"soc-{uuid.uuid4().hex[:8]}"
    group = {"name": name, "emails": ["soc@example.org", "oncall@example.org"], "slack_channel": "C0SOC"}
    import_profiles(live_api.engine, {"user_groups": [group]})
    return name


def _audit(live_api: LiveApi, incident_id: int, action: str) -> list[AuditEntry]:
    table = AuditEntry.__table__
    with live_api.engine.connect() as conn:
        return conn.execute(  # type: ignore[return-value]
            select(table).where(table.c.target == f"incident/{incident_id}", table.c.action == action)
        ).all()


def test_a_group_is_e_mailed_about_an_incident_and_it_is_noted_and_audited(
    live_api: LiveApi, smtp_sink: SmtpSink, prefect_server: LocalPrefectServer
) -> None:
    block = asyncio.run(save_smtp_block(smtp_sink))
    group = _group(live_api)
    incident_id, _ = _incident(live_api)

    answer = live_api.client("analyst").post(
        f"/api/v1/incidents/{incident_id}/notify", json={"group": group, "via": "email", "block": block}
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["recipients"] == ["soc@example.org", "oncall@example.org"]
    [message] = smtp_sink.messages
    assert message["Subject"].startswith(f"[incident #{incident_id} new]")
    assert message["To"] == "soc@example.org, oncall@example.org"
    notes = [h["comment"] for h in answer.json()["incident"]["history"]]
    assert f"notified {group} by email: soc@example.org, oncall@example.org" in notes
    [entry] = _audit(live_api, incident_id, "incident.notify")
    assert (entry.actor, entry.after["group"], entry.after["via"]) == ("analyst", group, "email")


def test_a_group_is_told_on_slack(live_api: LiveApi, httpserver: HTTPServer, prefect_server: object) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    serve_products(httpserver)
    incident_id, _ = _incident(live_api)

    answer = live_api.client("analyst").post(
        f"/api/v1/incidents/{incident_id}/notify",
        json={"group": _group(live_api), "via": "slack", "block": f"slack-{suffix}"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["recipients"] == ["C0SOC"]
    posted = json.loads(next(r for r, _ in httpserver.log if r.path == "/api/chat.postMessage").data)
    assert posted["channel"] == "C0SOC" and f"[incident #{incident_id} new]" in posted["text"]


def test_an_unknown_group_or_block_is_a_422_naming_it(
    live_api: LiveApi, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    incident_id, _ = _incident(live_api)
    analyst = live_api.client("analyst")
    path = f"/api/v1/incidents/{incident_id}/notify"

    no_group = analyst.post(path, json={"group": "nobody-here", "via": "slack", "block": f"slack-{suffix}"})
    no_block = analyst.post(path, json={"group": _group(live_api), "via": "slack", "block": "no-such-slack"})
    no_jira = analyst.post(
        f"/api/v1/incidents/{incident_id}/escalate", json={"to": "jira", "block": "no-jira"}
    )

    assert no_group.status_code == 422 and "no user group 'nobody-here'" in no_group.json()["detail"]
    for answer, kind in (
        (no_block, "Slack Workspace block 'no-such-slack'"),
        (no_jira, "JIRA Site block 'no-jira'"),
    ):
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "block"] and kind in error["msg"]
    assert _audit(live_api, incident_id, "incident.notify") == []


def test_an_incident_goes_to_jira_once_and_a_second_send_returns_the_key(
    live_api: LiveApi, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    _hive, jira = serve_products(httpserver)
    incident_id, alert_uuid = _incident(live_api)
    path = f"/api/v1/incidents/{incident_id}/escalate"
    body = {"to": "jira", "block": f"jira-{suffix}", "project": "SEC"}

    first = live_api.client("analyst").post(path, json=body)
    second = live_api.client("analyst").post(path, json=body)

    assert first.status_code == second.status_code == 200, first.text
    assert (first.json()["key"], first.json()["sent"]) == ("SEC-7", True)
    assert (second.json()["key"], second.json()["sent"]) == ("SEC-7", False)
    assert first.json()["incident"]["jira_key"] == "SEC-7"
    assert [key for key, _ in jira.filed] == ["SEC-7"]
    assert f"alertflow-{alert_uuid}" in jira.filed[0][1]
    filed = json.loads(next(r for r, _ in httpserver.log if r.path == "/rest/api/2/issue").data)
    assert filed["fields"]["project"] == {"key": "SEC"}
    [entry] = _audit(live_api, incident_id, "incident.escalate")
    assert (entry.after, entry.actor) == ({"to": "jira", "key": "SEC-7"}, "analyst")


def test_an_incident_goes_to_thehive_once(
    live_api: LiveApi, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    hive, _jira = serve_products(httpserver)
    incident_id, alert_uuid = _incident(live_api)
    path = f"/api/v1/incidents/{incident_id}/escalate"

    first = live_api.client("analyst").post(path, json={"to": "thehive", "block": f"thehive-{suffix}"}).json()
    second = (
        live_api.client("analyst").post(path, json={"to": "thehive", "block": f"thehive-{suffix}"}).json()
    )

    assert (first["key"], first["sent"], second["key"], second["sent"]) == ("~4242", True, "~4242", False)
    assert [a["sourceRef"] for a in hive.created] == [alert_uuid]
    assert sum(r.path == "/api/v1/alert" for r, _ in httpserver.log) == 1
    assert second["incident"]["thehive_id"] == "~4242"


def test_another_tenants_incident_is_a_404_and_nothing_is_sent(
    live_api: LiveApi, smtp_sink: SmtpSink, prefect_server: object
) -> None:
    block = asyncio.run(save_smtp_block(smtp_sink))
    incident_id, _ = _incident(live_api, TENANT_B)
    analyst = live_api.client("analyst-a")

    notify = analyst.post(
        f"/api/v1/incidents/{incident_id}/notify", json={"group": _group(live_api), "block": block}
    )
    escalate = analyst.post(f"/api/v1/incidents/{incident_id}/escalate", json={"to": "jira", "block": "x"})

    assert (notify.status_code, escalate.status_code) == (404, 404)
    assert smtp_sink.messages == []
