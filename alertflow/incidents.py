"""Incidents opened from alerts: a small state machine with a who/when/comment history.

new ──► in_progress ──► resolved ──► closed
 │           ▲              │           │
 └──► resolved  reopened ◄──┴───────────┘
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from alertmodel import Alert, Incident, IncidentEvent
from alertmodel.errors import AlertflowError
from alertmodel.types import utcnow

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress", "resolved", "closed"),
    "in_progress": ("resolved",),
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("in_progress", "resolved"),
}

_INCIDENTS = Incident.__table__
_EVENTS = IncidentEvent.__table__
_ALERTS = Alert.__table__


class IncidentError(AlertflowError):
    """An incident operation was refused (unknown alert or incident, forbidden transition)."""


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its history, oldest change first."""

    incident: Incident
    history: list[IncidentEvent]


def open_incident(
    engine: Engine,
    alert_uuid: str,
    *,
    actor: str,
    comment: str = "",
    assignee: str | None = None,
    if_absent: bool = False,
) -> Incident:
    """Open an incident for a stored alert and set the alert's status to `incident`.

    An alert has at most one incident: with `if_absent` the existing one is returned,
    otherwise opening a second is refused.
    """
    with engine.begin() as conn:
        alert = conn.execute(
            select(_ALERTS.c.alert_uuid, _ALERTS.c.description, _ALERTS.c.severity).where(
                _ALERTS.c.alert_uuid == alert_uuid
            )
        ).first()
        if alert is None:
            raise IncidentError(f"no alert {alert_uuid}")
        existing = conn.execute(select(_INCIDENTS).where(_INCIDENTS.c.alert_uuid == alert_uuid)).first()
        if existing is not None:
            if if_absent:
                return Incident.model_validate(dict(existing._mapping))
            raise IncidentError(f"alert {alert_uuid} already has incident #{existing.id}")
        now = utcnow()
        incident_id = conn.execute(
            _INCIDENTS.insert().values(
                alert_uuid=alert_uuid,
                title=alert.description[:1024],
                state="new",
                severity=alert.severity,
                assignee=assignee,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        conn.execute(
            _EVENTS.insert().values(
                incident_id=incident_id, at=now, actor=actor, from_state=None, to_state="new", comment=comment
            )
        )
        conn.execute(_ALERTS.update().where(_ALERTS.c.alert_uuid == alert_uuid).values(status="incident"))
        row = conn.execute(select(_INCIDENTS).where(_INCIDENTS.c.id == incident_id)).one()
    return Incident.model_validate(dict(row._mapping))


def change_state(
    engine: Engine, incident_id: int, to_state: str, *, actor: str, comment: str = ""
) -> Incident:
    """Move an incident to `to_state` if the state machine allows it, recording who, when and why."""
    with engine.begin() as conn:
        row = conn.execute(select(_INCIDENTS).where(_INCIDENTS.c.id == incident_id).with_for_update()).first()
        if row is None:
            raise IncidentError(f"no incident #{incident_id}")
        allowed = TRANSITIONS.get(row.state, ())
        if to_state not in allowed:
            raise IncidentError(
                f"incident #{incident_id} is {row.state}; it can go to {', '.join(allowed) or 'nothing'}, "
                f"not {to_state}"
            )
        now = utcnow()
        values: dict[str, Any] = {"state": to_state, "updated_at": now}
        if to_state == "closed":
            values["closed_at"] = now
        elif to_state == "reopened":
            values["closed_at"] = None
        conn.execute(_INCIDENTS.update().where(_INCIDENTS.c.id == incident_id).values(**values))
        add_event(
            conn, incident_id, actor=actor, from_state=row.state, to_state=to_state, comment=comment, at=now
        )
        updated = conn.execute(select(_INCIDENTS).where(_INCIDENTS.c.id == incident_id)).one()
    return Incident.model_validate(dict(updated._mapping))


def add_event(
    conn: Any,
    incident_id: int,
    *,
    actor: str,
    from_state: str | None,
    to_state: str,
    comment: str,
    at: datetime | None = None,
) -> None:
    """Append one entry to an incident's history."""
    conn.execute(
        _EVENTS.insert().values(
            incident_id=incident_id,
            at=at or utcnow(),
            actor=actor,
            from_state=from_state,
            to_state=to_state,
            comment=comment,
        )
    )


def record_note(engine: Engine, incident_id: int, *, actor: str, comment: str) -> None:
    """Add a history entry that does not change the state (e.g. a notification sent)."""
    with engine.begin() as conn:
        state = conn.execute(select(_INCIDENTS.c.state).where(_INCIDENTS.c.id == incident_id)).scalar()
        if state is None:
            raise IncidentError(f"no incident #{incident_id}")
        add_event(conn, incident_id, actor=actor, from_state=state, to_state=state, comment=comment)


def get_incident(engine: Engine, incident_id: int) -> IncidentView:
    """One incident and its history."""
    with engine.connect() as conn:
        row = conn.execute(select(_INCIDENTS).where(_INCIDENTS.c.id == incident_id)).first()
        if row is None:
            raise IncidentError(f"no incident #{incident_id}")
        events = conn.execute(
            select(_EVENTS).where(_EVENTS.c.incident_id == incident_id).order_by(_EVENTS.c.id)
        ).all()
    return IncidentView(
        incident=Incident.model_validate(dict(row._mapping)),
        history=[IncidentEvent.model_validate(dict(e._mapping)) for e in events],
    )


def list_incidents(
    engine: Engine,
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
    with engine.connect() as conn:
        return [Incident.model_validate(dict(r._mapping)) for r in conn.execute(query)]


async def notify_group(
    engine: Engine, incident_id: int, group: str, *, via: str = "email", actor: str, block: str = "default"
) -> list[str]:
    """Tell user group `group` about an incident by hand; recorded in its history. Returns recipients."""
    from alertflow import actions

    view = get_incident(engine, incident_id)
    if via != "email":
        if via not in ("slack", "twilio"):
            raise IncidentError(f"cannot notify via {via!r} (expected email, slack or twilio)")
        from alertflow.product_actions import notify_incident

        return await notify_incident(engine, incident_id, group, via=via, actor=actor, block=block)
    [alert] = actions.load_alerts(engine, [view.incident.alert_uuid])
    subject, body = actions.describe_alert(alert)
    subject = f"[incident #{incident_id} {view.incident.state}] {subject}"[:200]
    server = await actions.load_smtp_server(block)
    recipients = await actions.send_to_group(
        engine, server, group, subject, body, message_id=f"incident-{incident_id}-{utcnow().timestamp()}"
    )
    record_note(
        engine, incident_id, actor=actor, comment=f"notified {group} by email: {', '.join(recipients)}"
    )
    return recipients
