from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from alertmodel import Alert, Incident, IncidentEvent, migrate
from alertmodel.engine import make_engine
from alertmodel.errors import IncidentError
from alertmodel.types import utcnow
from response import incidents
from response.notify import notify_group
from tests.alertfactory import make_alert, store_batch


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


def test_opening_an_incident_marks_the_alert_and_starts_its_history(engine: Engine) -> None:
    alert = make_alert(severity=3)
    store_batch(engine, [alert])
    incident = incidents.open_incident(engine, alert["alert_uuid"], actor="alice", comment="looks real")
    assert (incident.state, incident.severity, incident.title) == ("new", 3, alert["description"])
    with engine.connect() as conn:
        status = conn.execute(select(Alert.__table__.c.status)).scalar()
    assert status == "incident"
    [event] = incidents.get_incident(engine, incident.id).history
    assert (event.actor, event.from_state, event.to_state, event.comment) == (
        "alice",
        None,
        "new",
        "looks real",
    )


def test_an_alert_has_one_incident(engine: Engine) -> None:
    alert = make_alert()
    store_batch(engine, [alert])
    first = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")
    with pytest.raises(IncidentError, match=f"already has incident #{first.id}"):
        incidents.open_incident(engine, alert["alert_uuid"], actor="bob")
    assert incidents.open_incident(engine, alert["alert_uuid"], actor="bob", if_absent=True).id == first.id


def test_an_opener_that_lost_the_race_gets_the_winners_incident_not_an_integrity_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = make_alert()
    store_batch(engine, [alert])
    winner = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")
    real_lookup = incidents.q.incident_of_alert
    checks: list[str] = []

    def checked_before_the_winner_committed(conn: Any, alert_uuid: str) -> Any:
        checks.append(alert_uuid)
        return None if len(checks) == 1 else real_lookup(conn, alert_uuid)

    monkeypatch.setattr(incidents.q, "incident_of_alert", checked_before_the_winner_committed)
    assert incidents.open_incident(engine, alert["alert_uuid"], actor="bob", if_absent=True).id == winner.id
    checks.clear()
    with pytest.raises(IncidentError, match=f"already has incident #{winner.id}"):
        incidents.open_incident(engine, alert["alert_uuid"], actor="bob")
    with engine.connect() as conn:
        stored = conn.execute(select(Incident.__table__.c.id)).scalars().all()
    assert stored == [winner.id]


def _open_each(url: str, uuids: list[str], actor: str, start: Any, outcomes: Any) -> None:
    """One opener process: open an incident for every alert, as fast as it can once both are ready."""
    engine = make_engine(url)
    start.wait()
    for alert_uuid in uuids:
        try:
            incidents.open_incident(engine, alert_uuid, actor=actor)
            outcomes.put((alert_uuid, actor, "opened"))
        except IncidentError as exc:
            outcomes.put((alert_uuid, actor, "refused" if "already has" in str(exc) else repr(exc)))
        except Exception as exc:  # what reached the caller is the finding
            outcomes.put((alert_uuid, actor, repr(exc)))
    engine.dispose()


def test_two_processes_opening_incidents_for_the_same_alerts_open_one_each(engine: Engine) -> None:
    alerts = [make_alert() for _ in range(60)]
    store_batch(engine, alerts)
    uuids = [a["alert_uuid"] for a in alerts]
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    start, outcomes = ctx.Barrier(2), ctx.Queue()
    openers = [
        ctx.Process(target=_open_each, args=(url, uuids, name, start, outcomes)) for name in ("a", "b")
    ]
    for p in openers:
        p.start()
    results = [outcomes.get(timeout=120) for _ in range(2 * len(uuids))]
    for p in openers:
        p.join(30)
        assert p.exitcode == 0
    by_alert: dict[str, list[str]] = {u: [] for u in uuids}
    for alert_uuid, _actor, outcome in results:
        by_alert[alert_uuid].append(outcome)
    assert all(sorted(o) == ["opened", "refused"] for o in by_alert.values()), by_alert
    with engine.connect() as conn:
        rows = conn.execute(select(Incident.__table__.c.alert_uuid)).scalars().all()
        events = conn.execute(select(IncidentEvent.__table__.c.incident_id)).scalars().all()
    assert sorted(rows) == sorted(uuids)
    assert len(events) == len(uuids)


def test_unknown_alert_is_refused(engine: Engine) -> None:
    with pytest.raises(IncidentError, match="no alert nope"):
        incidents.open_incident(engine, "nope", actor="alice")


def test_state_machine_records_who_when_and_why(engine: Engine) -> None:
    alert = make_alert()
    store_batch(engine, [alert])
    incident = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")
    steps = [
        ("in_progress", "bob", "taking it"),
        ("resolved", "bob", "blocked at the firewall"),
        ("closed", "carol", "verified"),
        ("reopened", "alice", "it is back"),
        ("in_progress", "bob", ""),
        ("resolved", "bob", "patched"),
    ]
    for to_state, actor, comment in steps:
        changed = incidents.change_state(engine, incident.id, to_state, actor=actor, comment=comment)
        assert changed.state == to_state
        if to_state == "closed":
            assert changed.closed_at is not None
        if to_state == "reopened":
            assert changed.closed_at is None
    history = incidents.get_incident(engine, incident.id).history
    assert [(e.from_state, e.to_state, e.actor, e.comment) for e in history[1:]] == [
        (a, b, c, d) for a, (b, c, d) in zip(["new", *[s[0] for s in steps[:-1]]], steps, strict=True)
    ]
    assert all(e.at.tzinfo is not None for e in history)


@pytest.mark.parametrize(("start", "bad"), [("new", "reopened"), ("new", "new")])
def test_forbidden_transitions_are_refused_with_the_allowed_ones(
    engine: Engine, start: str, bad: str
) -> None:
    alert = make_alert()
    store_batch(engine, [alert])
    incident = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")
    with pytest.raises(IncidentError, match=f"is new; it can go to in_progress, resolved, closed, not {bad}"):
        incidents.change_state(engine, incident.id, bad, actor="bob")
    assert len(incidents.get_incident(engine, incident.id).history) == 1


def test_closed_incident_can_only_be_reopened(engine: Engine) -> None:
    alert = make_alert()
    store_batch(engine, [alert])
    incident = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")
    incidents.change_state(engine, incident.id, "closed", actor="alice")
    with pytest.raises(IncidentError, match="is closed; it can go to reopened, not in_progress"):
        incidents.change_state(engine, incident.id, "in_progress", actor="bob")


def test_list_filters_by_state_severity_assignee_and_time(engine: Engine) -> None:
    alerts = [make_alert(severity=s) for s in (0, 2, 3)]
    store_batch(engine, alerts)
    opened = [
        incidents.open_incident(engine, a["alert_uuid"], actor="x", assignee=who)
        for a, who in zip(alerts, ["alice", "bob", "alice"], strict=True)
    ]
    incidents.change_state(engine, opened[2].id, "in_progress", actor="alice")
    ids = lambda rows: [i.id for i in rows]  # noqa: E731
    assert ids(incidents.list_incidents(engine)) == [o.id for o in reversed(opened)]
    assert ids(incidents.list_incidents(engine, state="new")) == [opened[1].id, opened[0].id]
    assert ids(incidents.list_incidents(engine, min_severity=2)) == [opened[2].id, opened[1].id]
    assert ids(incidents.list_incidents(engine, assignee="alice")) == [opened[2].id, opened[0].id]
    assert incidents.list_incidents(engine, since=utcnow() + timedelta(minutes=1)) == []


async def test_notifying_by_slack_or_twilio_needs_a_channel_or_phones_in_the_group(
    sqlite_database: str,
) -> None:
    # Delivery itself (blocks on the Prefect server, real SDKs) is tested in test_product_actions.py.
    from alertmodel.errors import IntegrationError
    from tests.alertfactory import import_profiles

    migrate.upgrade(sqlite_database)
    engine = make_engine(sqlite_database)
    alert = make_alert()
    store_batch(engine, [alert])
    import_profiles(engine, {"user_groups": [{"name": "mail-only", "emails": ["soc@example.org"]}]})
    incident = incidents.open_incident(engine, alert["alert_uuid"], actor="alice")

    with pytest.raises(IntegrationError, match="user group 'mail-only' has no Slack channel"):
        await notify_group(engine, incident.id, "mail-only", via="slack", actor="alice")
    with pytest.raises(IntegrationError, match="user group 'mail-only' has no phone numbers"):
        await notify_group(engine, incident.id, "mail-only", via="twilio", actor="alice")
    with pytest.raises(incidents.IncidentError, match="expected email, slack or twilio"):
        await notify_group(engine, incident.id, "mail-only", via="fax", actor="alice")
    engine.dispose()
