"""The console's actions over HTTP: a playbook run for an alert from a form built from the
deployment's schema, notify and send-to-JIRA/TheHive through the real SDKs against local servers
answering each product's JSON, the IDS rule read from a real sensor host over SSH; roles, CSRF
and tenants on every new form."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import AuditEntry
from alertmodel.alert import Alert
from alertmodel.response_tables import PlaybookRun
from tests.alertfactory import import_profiles
from tests.alertflow.api.conftest import TENANT_A
from tests.conftest import SmtpSink
from tests.integration.response.conftest import flow_runs_of
from tests.integration.response.test_notifications import save_smtp_block
from tests.response.test_products import PATH_SMS, save_blocks, serve_products

from .client import csrf_of, signed_in
from .conftest import LiveConsole
from .hostile import PAYLOAD
from .manual_playbook import console_manual


def _group(live: LiveConsole) -> str:
    name = f"soc-{uuid.uuid4().hex[:8]}"
    group = {
        "name": name,
        "emails": ["soc@example.org"],
        "slack_channel": "C0SOC",
        "phones": ["+15005550006"],
    }
    import_profiles(live.engine, {"user_groups": [group]})
    return name


def _tenant_a_suricata(live: LiveConsole) -> str:
    """A (non-hostile) tenant-A Suricata alert that no test has touched: no incident, no playbook run."""
    alerts, runs = Alert.__table__, PlaybookRun.__table__
    with live.engine.connect() as conn:
        rows = conn.execute(
            select(alerts.c.alert_uuid)
            .where(alerts.c.ref_id == TENANT_A, alerts.c.source == "Suricata", alerts.c.status != "incident")
            .where(alerts.c.description.not_like("%<script>%"))
            .where(alerts.c.alert_uuid.not_in(select(runs.c.alert_uuid)))
            .where(alerts.c.alert_uuid != live.tenant_a_plain_uuid)
        ).all()
    assert rows, "no untouched tenant-A Suricata alert is left"
    return str(random.choice(rows).alert_uuid)


def _incident(client: httpx.Client, alert_uuid: str) -> int:
    page = client.get(f"/alerts/{alert_uuid}")
    response = client.post(
        f"/alerts/{alert_uuid}/incident", data={"csrf_token": csrf_of(page.text), "comment": "seen"}
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def _followed(client: httpx.Client, path: str, data: dict[str, str]) -> str:
    """Post an action that succeeds: it answers 303 to the incident, whose page says (once) what was done."""
    response = client.post(path, data=data)
    assert response.status_code == 303, response.text
    incident = path.rsplit("/", 1)[0]
    assert response.headers["location"] == incident
    shown = client.get(incident)
    assert shown.status_code == 200 and shown.text.count('id="action-outcome"') == 1
    assert 'id="action-outcome"' not in client.get(incident).text  # a reload shows it no more
    return shown.text


def _audit(live: LiveConsole, target: str, action: str) -> list[Any]:
    table = AuditEntry.__table__
    with live.engine.connect() as conn:
        return list(
            conn.execute(select(table).where(table.c.target == target, table.c.action == action)).all()
        )


# --- run a playbook for the alert ---------------------------------------------------------------


def test_the_run_form_is_built_from_the_deployment_schema_and_starts_the_run_once(
    live_console: LiveConsole, manual_deployment: tuple[str, str], prefect_server: LocalPrefectServer
) -> None:
    name, deployment_id = manual_deployment
    alert_uuid = _tenant_a_suricata(live_console)
    client = signed_in(live_console.base_url, "analyst")

    listing = client.get(f"/alerts/{alert_uuid}/playbooks")
    assert listing.status_code == 200, listing.text
    assert f"?deployment={name}" in listing.text
    assert "Runs by hand &lt;b&gt;&#34;quoted&#34;&lt;/b&gt;." in listing.text
    form = client.get(f"/alerts/{alert_uuid}/playbooks", params={"deployment": name})
    assert form.status_code == 200
    text = form.text
    for field in ("param-note", "param-hours", "param-mode", "param-extra"):
        assert f'name="{field}"' in text
    assert 'name="param-alert"' not in text  # the alert comes from the store, by its uuid
    assert 'value="6"' in text  # the deployment's default, not the flow's
    assert '<option value="block">block</option>' in text

    posted = {
        "csrf_token": csrf_of(text),
        "deployment": name,
        "param-note": 'contain "now" <b>',
        "param-hours": "12",
        "param-mode": "block",
        "param-extra": '{"ticket": "INC-1"}',
    }
    first = client.post(f"/alerts/{alert_uuid}/playbook-runs", data=posted)
    again = client.post(f"/alerts/{alert_uuid}/playbook-runs", data=posted)

    assert first.status_code == again.status_code == 303, first.text
    assert first.headers["location"] == f"/alerts/{alert_uuid}#playbook-runs"
    [run] = [
        r
        for r in flow_runs_of(prefect_server.api_url, deployment_id)
        if r["parameters"]["alert"]["alert_uuid"] == alert_uuid
    ]
    assert {k: run["parameters"][k] for k in ("note", "hours", "mode", "extra")} == {
        "note": 'contain "now" <b>',
        "hours": 12,
        "mode": "block",
        "extra": {"ticket": "INC-1"},
    }
    assert run["idempotency_key"] == f"{alert_uuid}:manual:analyst:{name}"
    history = client.get(f"/alerts/{alert_uuid}").text
    assert f'href="http://127.0.0.1:4200/runs/flow-run/{run["id"]}"' in history
    panel = client.get(f"/alerts/{alert_uuid}/runs", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and "<html" not in panel.text
    assert 'hx-trigger="every 3s"' in panel.text  # Scheduled: the panel keeps refreshing
    entries = _audit(live_console, f"alert/{alert_uuid}", "playbook.run")  # each start is audited
    assert [(e.actor, e.after["flow_run_id"], e.after["parameters"]["hours"]) for e in entries] == [
        ("analyst", run["id"], 12)
    ] * 2


def test_a_parameter_the_schema_refuses_is_shown_by_name_and_starts_nothing(
    live_console: LiveConsole, manual_deployment: tuple[str, str], prefect_server: LocalPrefectServer
) -> None:
    name, deployment_id = manual_deployment
    alert_uuid = _tenant_a_suricata(live_console)
    client = signed_in(live_console.base_url, "analyst-a")
    token = csrf_of(client.get(f"/alerts/{alert_uuid}/playbooks", params={"deployment": name}).text)
    base = {"csrf_token": token, "deployment": name}

    not_a_number = client.post(f"/alerts/{alert_uuid}/playbook-runs", data={**base, "param-hours": "soon"})
    bad_json = client.post(f"/alerts/{alert_uuid}/playbook-runs", data={**base, "param-extra": "{oops"})
    wrong_type = client.post(f"/alerts/{alert_uuid}/playbook-runs", data={**base, "param-extra": "[1, 2]"})
    not_listed = client.post(
        f"/alerts/{alert_uuid}/playbook-runs", data={**base, "param-mode": "<script>alert(1)</script>"}
    )

    assert not_a_number.status_code == 422 and "hours: a whole number is needed" in not_a_number.text
    assert 'value="soon"' in not_a_number.text  # what was typed is kept
    assert bad_json.status_code == 422 and "extra: not valid JSON" in bad_json.text
    assert wrong_type.status_code == 422 and "extra: " in wrong_type.text
    assert not_listed.status_code == 422 and "mode: one of watch, block" in not_listed.text
    assert "<script>alert(1)" not in not_listed.text
    runs = flow_runs_of(prefect_server.api_url, deployment_id)
    assert all(r["parameters"]["alert"]["alert_uuid"] != alert_uuid for r in runs)


def test_the_api_refuses_the_alert_parameters_and_unknown_ones_by_name(
    live_console: LiveConsole, manual_deployment: tuple[str, str]
) -> None:
    from response.playbook_runs import RefusedParameters, check_parameters

    schema = console_manual.parameters.model_dump(mode="json", by_alias=True)
    with pytest.raises(RefusedParameters) as refused:
        check_parameters(schema, {"alert_uuid": "x", "nope": 1, "hours": 2})
    assert refused.value.problems == {
        "alert_uuid": "filled from the alert; not given by hand",
        "nope": "the deployment takes no such parameter",
    }
    with pytest.raises(RefusedParameters) as wrong:
        check_parameters(schema, {"hours": "many"})
    assert list(wrong.value.problems) == ["hours"]
    check_parameters(schema, {"hours": 3, "mode": "block"})


def test_a_viewer_cannot_run_a_playbook_notify_or_send_even_with_a_valid_or_forged_token(
    live_console: LiveConsole, manual_deployment: tuple[str, str], prefect_server: LocalPrefectServer
) -> None:
    name, deployment_id = manual_deployment
    alert_uuid = _tenant_a_suricata(live_console)
    incident_id = _incident(signed_in(live_console.base_url, "analyst"), alert_uuid)
    viewer = signed_in(live_console.base_url, "viewer")
    page = viewer.get(f"/alerts/{alert_uuid}")
    own_token = csrf_of(page.text)  # the sign-out form's token: a valid token of the viewer's session
    assert "Run a playbook for this alert" not in page.text and "Notify the group" not in page.text
    incident_page = viewer.get(f"/incidents/{incident_id}").text
    assert "Send the incident" not in incident_page and "Notify the group" not in incident_page

    assert viewer.get(f"/alerts/{alert_uuid}/playbooks").status_code == 403
    for token in (own_token, "forged-token"):
        for path, data in [
            (f"/alerts/{alert_uuid}/playbook-runs", {"deployment": name}),
            (f"/alerts/{alert_uuid}/notify", {"group": "soc", "via": "email"}),
            (f"/incidents/{incident_id}/notify", {"group": "soc", "via": "email"}),
            (f"/incidents/{incident_id}/escalate", {"to": "jira"}),
        ]:
            answer = viewer.post(path, data={"csrf_token": token, **data})
            assert answer.status_code == 403, (path, token, answer.text)
    # an analyst with a forged token is refused too
    analyst = signed_in(live_console.base_url, "analyst")
    forged = analyst.post(
        f"/alerts/{alert_uuid}/playbook-runs", data={"csrf_token": "forged", "deployment": name}
    )
    assert forged.status_code == 403
    runs = flow_runs_of(prefect_server.api_url, deployment_id)
    assert all(r["parameters"]["alert"]["alert_uuid"] != alert_uuid for r in runs)


def test_tenant_a_never_sees_tenant_b_alerts_in_the_new_pages(
    live_console: LiveConsole, manual_deployment: tuple[str, str], prefect_server: LocalPrefectServer
) -> None:
    name, deployment_id = manual_deployment
    other = live_console.tenant_b_uuids[0]
    alerts = Alert.__table__
    with live_console.engine.connect() as conn:
        described = conn.execute(
            select(alerts.c.description).where(alerts.c.alert_uuid == other)
        ).scalar_one()
    own = _tenant_a_suricata(live_console)
    client = signed_in(live_console.base_url, "analyst-a")
    token = csrf_of(client.get(f"/alerts/{own}").text)

    for path in (f"/alerts/{other}/playbooks", f"/alerts/{other}/runs", f"/alerts/{other}/ids-rule"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert f"no alert {other}" in answer.text and str(escape(described)) not in answer.text
    for path, data in [
        (f"/alerts/{other}/playbook-runs", {"deployment": name}),
        (f"/alerts/{other}/notify", {"group": "soc", "via": "email"}),
    ]:
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    runs = flow_runs_of(prefect_server.api_url, deployment_id)
    assert all(r["parameters"]["alert"]["alert_uuid"] != other for r in runs)
    # an incident of tenant B: its page and forms are not there for tenant A
    b_incident = _incident(signed_in(live_console.base_url, "analyst"), other)
    assert client.get(f"/incidents/{b_incident}").status_code == 404
    for path, data in [
        (f"/incidents/{b_incident}/notify", {"group": "soc", "via": "email"}),
        (f"/incidents/{b_incident}/escalate", {"to": "jira"}),
    ]:
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 404, path


# --- notify, JIRA, TheHive ----------------------------------------------------------------------


def test_an_incident_is_sent_to_jira_once_and_a_second_send_shows_the_key(
    live_console: LiveConsole, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    _hive, jira = serve_products(httpserver)
    client = signed_in(live_console.base_url, "analyst")
    incident_id = _incident(client, _tenant_a_suricata(live_console))
    page = client.get(f"/incidents/{incident_id}").text
    data = {"csrf_token": csrf_of(page), "to": "jira", "block": f"jira-{suffix}", "project": "SEC"}

    first = _followed(client, f"/incidents/{incident_id}/escalate", data)
    second = _followed(client, f"/incidents/{incident_id}/escalate", data)

    assert "Sent to JIRA as SEC-7" in first
    assert "Already in JIRA as SEC-7: nothing was sent again" in second
    assert [key for key, _ in jira.filed] == ["SEC-7"]
    assert "<dt>JIRA</dt><dd>SEC-7</dd>" in second
    assert len(_audit(live_console, f"incident/{incident_id}", "incident.escalate")) == 1


def test_an_incident_goes_to_thehive_once_and_a_missing_block_is_named(
    live_console: LiveConsole, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    hive, _jira = serve_products(httpserver)
    client = signed_in(live_console.base_url, "analyst")
    alert_uuid = _tenant_a_suricata(live_console)
    incident_id = _incident(client, alert_uuid)
    token = csrf_of(client.get(f"/incidents/{incident_id}").text)

    missing = client.post(
        f"/incidents/{incident_id}/escalate", data={"csrf_token": token, "to": "thehive", "block": "no-hive"}
    )
    hive_form = {"csrf_token": token, "to": "thehive", "block": f"thehive-{suffix}"}
    first = _followed(client, f"/incidents/{incident_id}/escalate", hive_form)
    second = _followed(client, f"/incidents/{incident_id}/escalate", hive_form)

    assert missing.status_code == 422 and "TheHive Server block &#39;no-hive&#39;" in missing.text
    assert 'id="action-problem"' in missing.text  # a refusal is shown at the post's address: nothing was done
    assert "Sent to TheHive as ~4242" in first
    assert "Already in TheHive as ~4242" in second
    assert [a["sourceRef"] for a in hive.created] == [alert_uuid]


def test_a_group_is_told_on_slack_and_by_sms_from_the_incident_page(
    live_console: LiveConsole, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    serve_products(httpserver)
    group = _group(live_console)
    client = signed_in(live_console.base_url, "analyst")
    incident_id = _incident(client, _tenant_a_suricata(live_console))
    page = client.get(f"/incidents/{incident_id}").text
    assert f'<option value="{group}">' in page

    slack = _followed(
        client,
        f"/incidents/{incident_id}/notify",
        {"csrf_token": csrf_of(page), "group": group, "via": "slack", "block": f"slack-{suffix}"},
    )
    sms = _followed(
        client,
        f"/incidents/{incident_id}/notify",
        {"csrf_token": csrf_of(page), "group": group, "via": "twilio", "block": f"twilio-{suffix}"},
    )

    assert f"Notified {group} by Slack: C0SOC" in slack
    assert f"Notified {group} by SMS (Twilio): +15005550006" in sms
    posted = json.loads(next(r for r, _ in httpserver.log if r.path == "/api/chat.postMessage").data)
    assert posted["channel"] == "C0SOC" and f"[incident #{incident_id} new]" in posted["text"]
    assert next(r for r, _ in httpserver.log if r.path == PATH_SMS).form["To"] == "+15005550006"
    assert f"notified {group} by slack: C0SOC" in sms  # in the incident's history


def test_a_notice_is_kept_in_the_session_for_its_page_shown_once_escaped_and_never_read_from_the_url(
    live_console: LiveConsole, httpserver: HTTPServer, prefect_server: object
) -> None:
    suffix = uuid.uuid4().hex[:6]
    asyncio.run(save_blocks(httpserver, suffix))
    serve_products(httpserver)
    group = f"soc-{suffix}-{PAYLOAD}"
    import_profiles(live_console.engine, {"user_groups": [{"name": group, "slack_channel": "C0SOC"}]})
    client = signed_in(live_console.base_url, "analyst")
    incident_id = _incident(client, _tenant_a_suricata(live_console))
    page = client.get(f"/incidents/{incident_id}").text
    assert client.get(f"/incidents/{incident_id}?notice=Forged+notice").text.count('id="action-outcome"') == 0

    told = client.post(
        f"/incidents/{incident_id}/notify",
        data={"csrf_token": csrf_of(page), "group": group, "via": "slack", "block": f"slack-{suffix}"},
    )

    assert told.status_code == 303 and told.headers["location"] == f"/incidents/{incident_id}"
    assert PAYLOAD not in told.headers["location"] and "Notified" not in told.headers["location"]
    other = signed_in(live_console.base_url, "analyst")  # another session of the same user sees nothing
    assert 'id="action-outcome"' not in other.get(f"/incidents/{incident_id}").text
    assert client.get("/incidents").status_code == 200  # another page does not use it up
    shown = client.get(f"/incidents/{incident_id}").text
    assert shown.count(str(escape(f"Notified {group} by Slack: C0SOC"))) == 1
    assert PAYLOAD not in shown and "<script>window.__xss" not in shown
    assert 'id="action-outcome"' not in client.get(f"/incidents/{incident_id}").text
    assert len(_audit(live_console, f"incident/{incident_id}", "incident.notify")) == 1


def test_notifying_from_an_alert_opens_its_incident_and_e_mails_the_group(
    live_console: LiveConsole, smtp_sink: SmtpSink, prefect_server: object
) -> None:
    block = asyncio.run(save_smtp_block(smtp_sink))
    group = _group(live_console)
    client = signed_in(live_console.base_url, "analyst")
    alert_uuid = _tenant_a_suricata(live_console)
    page = client.get(f"/alerts/{alert_uuid}").text
    assert "Notify the group" in page and "(opened now)" in page

    unknown = client.post(
        f"/alerts/{alert_uuid}/notify",
        data={"csrf_token": csrf_of(page), "group": "nobody-here", "via": "email", "block": block},
    )
    assert unknown.status_code == 422 and "no user group &#39;nobody-here&#39;" in unknown.text
    assert "(opened now)" in client.get(f"/alerts/{alert_uuid}").text  # no incident was opened for it

    told = client.post(
        f"/alerts/{alert_uuid}/notify",
        data={"csrf_token": csrf_of(page), "group": group, "via": "email", "block": block},
    )

    assert told.status_code == 303, told.text
    assert re.fullmatch(r"/incidents/\d+", told.headers["location"])  # the incident opened for it
    incident = client.get(told.headers["location"]).text
    assert f"Notified {group} by e-mail: soc@example.org" in incident
    assert f"opened to notify {group}" in incident
    [message] = smtp_sink.messages
    assert message["To"] == "soc@example.org"
    assert "(opened now)" not in client.get(f"/alerts/{alert_uuid}").text


# --- the IDS rule -------------------------------------------------------------------------------


def test_the_suricata_rule_is_read_from_the_sensor_over_ssh_and_shown_as_text(
    live_console: LiveConsole, ssh_hosts: Any, prefect_server: object
) -> None:
    from blocks.ids import IdsSensor

    alerts = Alert.__table__
    with live_console.engine.connect() as conn:
        row = conn.execute(
            select(alerts.c.alert_uuid, alerts.c.sensor, alerts.c.event).where(
                alerts.c.alert_uuid == _tenant_a_suricata(live_console)
            )
        ).one()
    host = ssh_hosts.hosts[0]
    directory = Path(host["root"]) / f"rules-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    rules = directory / "alertflow.rules"
    rule = f'alert ip any any -> any any (msg:"{PAYLOAD}"; sid:{row.event}; rev:3;)'
    rules.write_text(f'alert ip any any -> any any (msg:"other"; sid:1{row.event}; rev:1;)\n{rule}\n')
    sensor = IdsSensor(host=ssh_hosts.profile(0), kind="suricata", rules_path=str(rules))
    block_name = row.sensor.lower()
    assert block_name, "the sample alert has no sensor"
    asyncio.run(sensor.asave(block_name, overwrite=True))
    client = signed_in(live_console.base_url, "viewer")

    shown = client.get(f"/alerts/{row.alert_uuid}/ids-rule", headers={"HX-Request": "true"})
    assert shown.status_code == 200
    assert str(escape(rule)) in shown.text
    assert "<script>window" not in shown.text and "<html" not in shown.text
    page = client.get(f"/alerts/{row.alert_uuid}/ids-rule")  # without htmx: a page of its own
    assert "<html" in page.text and "Back to the alert" in page.text

    rules.unlink()
    gone = client.get(f"/alerts/{row.alert_uuid}/ids-rule", headers={"HX-Request": "true"})
    assert (
        gone.status_code == 200
        and "Rule not available: the sensor&#39;s rules file could not be read" in gone.text
    )
    asyncio.run(IdsSensor(host=ssh_hosts.profile(0), kind="wazuh").asave(block_name, overwrite=True))
    no_file = client.get(f"/alerts/{row.alert_uuid}/ids-rule", headers={"HX-Request": "true"})
    assert "Rule not available: the IdsSensor block" in no_file.text


def test_a_hostile_sensor_or_event_never_becomes_a_block_name_or_path(live_console: LiveConsole) -> None:
    client = signed_in(live_console.base_url, "admin")
    for alert_uuid in live_console.hostile_uuids:
        answer = client.get(f"/alerts/{alert_uuid}/ids-rule", headers={"HX-Request": "true"})
        assert answer.status_code == 200
        assert "Rule not available: " in answer.text
        assert "<script>" not in answer.text and "<img" not in answer.text
    # a Wazuh/Falco alert of tenant B: not a Suricata rule
    other = client.get(f"/alerts/{live_console.tenant_b_uuids[0]}/ids-rule", headers={"HX-Request": "true"})
    assert "Rule not available: rule lookup reads Suricata rule files" in other.text
