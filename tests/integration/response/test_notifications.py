"""E-mail actions and incident notifications reach a real SMTP server through the SmtpServer block."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select

from alertflow.up.prefect_server import LocalPrefectServer
from alertmodel import Alert
from blocks.smtp import SmtpServer
from response import incidents
from response.notify import notify_group
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.conftest import SmtpSink
from tests.integration.response.conftest import outbox_rows, outbox_states, running_dispatcher, wait_until

SOC = {"name": "soc", "emails": ["soc@example.org", "oncall@example.org"]}


async def save_smtp_block(sink: SmtpSink) -> str:
    name = f"sink-{uuid.uuid4().hex[:8]}"
    block = SmtpServer(
        smtp_server=sink.host, smtp_port=sink.port, smtp_type="INSECURE", sender="alertflow@example.org"
    )
    await block.asave(name, overwrite=True)
    return name


async def test_email_action_delivers_the_alert_to_the_user_group(
    store: Engine, smtp_sink: SmtpSink, prefect_server: LocalPrefectServer
) -> None:
    block = await save_smtp_block(smtp_sink)
    import_profiles(
        store,
        {
            "user_groups": [SOC],
            "response_profiles": [
                {
                    "name": "mail-soc",
                    "match": {"source": "Suricata", "event": "2019284"},
                    "actions": [{"kind": "email", "group": "soc", "block": block}, {"kind": "incident"}],
                }
            ],
        },
    )
    alert = make_alert(srcip="192.0.2.44")
    store_batch(store, [alert], ResponseHook())
    async with running_dispatcher(store):
        await wait_until(lambda: outbox_states(store) == {"done": 2}, 60, "e-mail and incident actions done")
    [message] = smtp_sink.messages
    assert message["To"] == "soc@example.org, oncall@example.org"
    assert message["From"] == "alertflow@example.org"
    assert message["Subject"] == "[alertflow] Major Suricata 2019284: " + alert["description"]
    assert message["Message-ID"] == f"<{alert['alert_uuid']}.mail-soc.0@alertflow>"
    body = message.get_content()
    assert f"alert_uuid: {alert['alert_uuid']}" in body and "srcip: 192.0.2.44" in body
    assert sorted(smtp_sink.envelopes[0].rcpt_tos) == ["oncall@example.org", "soc@example.org"]
    # the incident action opened one incident and marked the alert
    [incident] = incidents.list_incidents(store)
    assert incident.alert_uuid == alert["alert_uuid"] and incident.state == "new"
    with store.connect() as conn:
        status = conn.execute(
            select(Alert.__table__.c.status).where(Alert.__table__.c.alert_uuid == alert["alert_uuid"])
        ).scalar()
    assert status == "incident"


async def test_missing_smtp_block_fails_the_action_with_its_name(
    store: Engine, prefect_server: LocalPrefectServer
) -> None:
    import_profiles(
        store,
        {
            "user_groups": [SOC],
            "response_profiles": [
                {"name": "mail", "actions": [{"kind": "email", "group": "soc", "block": "no-such-block"}]}
            ],
        },
    )
    store_batch(store, [make_alert(action="mail")], ResponseHook())
    from response.dispatcher import DispatcherConfig

    async with running_dispatcher(store, DispatcherConfig(max_attempts=1)):
        await wait_until(lambda: outbox_states(store) == {"failed": 1}, 60, "the e-mail action to fail")
    [row] = outbox_rows(store)
    assert row.last_error.startswith(
        "IntegrationError: no alertflow SMTP Server block 'no-such-block' configured"
    )


async def test_an_incident_is_notified_to_a_group_by_hand_and_recorded(
    store: Engine, smtp_sink: SmtpSink, prefect_server: LocalPrefectServer
) -> None:
    block = await save_smtp_block(smtp_sink)
    import_profiles(store, {"user_groups": [SOC]})
    alert = make_alert()
    store_batch(store, [alert])
    incident = incidents.open_incident(store, alert["alert_uuid"], actor="alice")
    sent = await notify_group(store, incident.id, "soc", actor="alice", block=block)
    assert sent == ["soc@example.org", "oncall@example.org"]
    [message] = smtp_sink.messages
    assert message["Subject"].startswith(f"[incident #{incident.id} new] [alertflow] Major Suricata 2019284")
    history = incidents.get_incident(store, incident.id).history
    assert [(e.actor, e.from_state, e.to_state) for e in history] == [
        ("alice", None, "new"),
        ("alice", "new", "new"),
    ]
    assert history[1].comment == "notified soc by email: soc@example.org, oncall@example.org"
