"""Storage queries of incidents and their history; the rules about them live in response.incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from alertmodel import rollup
from alertmodel.alert import Alert
from alertmodel.incident import Incident, IncidentEvent

_INCIDENTS = Incident.__table__
_EVENTS = IncidentEvent.__table__
_ALERTS = Alert.__table__
EXTERNAL_REF_FIELDS = ("jira_key", "thehive_id")


def alert_summary(conn: Connection, alert_uuid: str) -> Row[Any] | None:
    """The alert's uuid, description and severity, or None when it is not stored."""
    return conn.execute(
        select(_ALERTS.c.alert_uuid, _ALERTS.c.description, _ALERTS.c.severity).where(
            _ALERTS.c.alert_uuid == alert_uuid
        )
    ).first()


def incident_of_alert(conn: Connection, alert_uuid: str) -> Incident | None:
    """The incident opened for an alert, if any."""
    row = conn.execute(select(_INCIDENTS).where(_INCIDENTS.c.alert_uuid == alert_uuid)).first()
    return None if row is None else Incident.model_validate(dict(row._mapping))


def insert_incident(
    conn: Connection, *, alert_uuid: str, title: str, severity: int, assignee: str | None, at: datetime
) -> int:
    """A new incident in state `new`; its id."""
    return int(
        conn.execute(
            _INCIDENTS.insert().values(
                alert_uuid=alert_uuid,
                title=title,
                state="new",
                severity=severity,
                assignee=assignee,
                created_at=at,
                updated_at=at,
            )
        ).inserted_primary_key[0]
    )


def set_alert_status(conn: Connection, alert_uuid: str, status: str) -> None:
    """Set an alert's status, keeping the dashboard's status counts right."""
    rollup.set_alert_status(conn, alert_uuid, status)


def read_incident(conn: Connection, incident_id: int, *, for_update: bool = False) -> Incident | None:
    """One incident (row-locked with `for_update`), or None."""
    query = select(_INCIDENTS).where(_INCIDENTS.c.id == incident_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return None if row is None else Incident.model_validate(dict(row._mapping))


def update_incident(conn: Connection, incident_id: int, values: dict[str, Any]) -> None:
    conn.execute(_INCIDENTS.update().where(_INCIDENTS.c.id == incident_id).values(values))


def set_external_ref(conn: Connection, incident_id: int, field: str, value: str, at: datetime) -> None:
    """Record a JIRA key or TheHive id on an incident."""
    if field not in EXTERNAL_REF_FIELDS:
        raise ValueError(f"field must be jira_key or thehive_id, not {field!r}")
    update_incident(conn, incident_id, {field: value, "updated_at": at})


def insert_event(
    conn: Connection,
    incident_id: int,
    *,
    actor: str,
    from_state: str | None,
    to_state: str,
    comment: str,
    at: datetime,
) -> None:
    """Append one entry to an incident's history."""
    conn.execute(
        _EVENTS.insert().values(
            incident_id=incident_id,
            at=at,
            actor=actor,
            from_state=from_state,
            to_state=to_state,
            comment=comment,
        )
    )


def read_events(conn: Connection, incident_id: int) -> list[IncidentEvent]:
    """An incident's history, oldest change first."""
    rows = conn.execute(select(_EVENTS).where(_EVENTS.c.incident_id == incident_id).order_by(_EVENTS.c.id))
    return [IncidentEvent.model_validate(dict(e._mapping)) for e in rows]


def select_incidents(
    conn: Connection,
    *,
    state: str | None = None,
    min_severity: int | None = None,
    assignee: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[Incident]:
    """Incidents, newest first, filtered by state, minimum severity, assignee and creation time."""
    query = select(_INCIDENTS).order_by(_INCIDENTS.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(_INCIDENTS.c.state == state)
    if min_severity is not None:
        query = query.where(_INCIDENTS.c.severity >= min_severity)
    if assignee is not None:
        query = query.where(_INCIDENTS.c.assignee == assignee)
    if since is not None:
        query = query.where(_INCIDENTS.c.created_at >= since)
    return [Incident.model_validate(dict(r._mapping)) for r in conn.execute(query)]
