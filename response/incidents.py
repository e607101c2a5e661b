"""Incidents opened from alerts: a small state machine with a who/when/comment history.

new ──► in_progress ──► resolved ──► closed
 │           ▲              │           │
 └──► resolved  reopened ◄──┴───────────┘

The queries are in alertmodel.incident_queries; the rules (one incident per alert, which
move is allowed, every change recorded) are here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from alertmodel import Incident, IncidentEvent
from alertmodel import incident_queries as q
from alertmodel.errors import IncidentError
from alertmodel.types import utcnow
from response.payload import OutboxItem

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_progress", "resolved", "closed"),
    "in_progress": ("resolved",),
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("in_progress", "resolved"),
}


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
    otherwise opening a second is refused. Two processes opening one at the same moment both
    pass the first check; the unique key on `incident.alert_uuid` refuses the second insert,
    and that opener then gets the winner's incident (or the refusal) like any later one.
    """
    try:
        return _insert_incident(engine, alert_uuid, actor=actor, comment=comment, assignee=assignee)
    except _AlreadyOpen as exc:
        existing = exc.incident
    except IntegrityError:
        with engine.connect() as conn:
            found = q.incident_of_alert(conn, alert_uuid)
        if found is None:
            raise
        existing = found
    if if_absent:
        return existing
    raise IncidentError(f"alert {alert_uuid} already has incident #{existing.id}")


class _AlreadyOpen(Exception):
    def __init__(self, incident: Incident) -> None:
        self.incident = incident


def _insert_incident(
    engine: Engine, alert_uuid: str, *, actor: str, comment: str, assignee: str | None
) -> Incident:
    with engine.begin() as conn:
        alert = q.alert_summary(conn, alert_uuid)
        if alert is None:
            raise IncidentError(f"no alert {alert_uuid}")
        existing = q.incident_of_alert(conn, alert_uuid)
        if existing is not None:
            raise _AlreadyOpen(existing)
        now = utcnow()
        incident_id = q.insert_incident(
            conn,
            alert_uuid=alert_uuid,
            title=alert.description[:1024],
            severity=alert.severity,
            assignee=assignee,
            at=now,
        )
        q.insert_event(
            conn, incident_id, actor=actor, from_state=None, to_state="new", comment=comment, at=now
        )
        q.set_alert_status(conn, alert_uuid, "incident")
        incident = q.read_incident(conn, incident_id)
    assert incident is not None
    return incident


def change_state(
    engine: Engine, incident_id: int, to_state: str, *, actor: str, comment: str = ""
) -> Incident:
    """Move an incident to `to_state` if the state machine allows it, recording who, when and why."""
    with engine.begin() as conn:
        current = q.read_incident(conn, incident_id, for_update=True)
        if current is None:
            raise IncidentError(f"no incident #{incident_id}")
        allowed = TRANSITIONS.get(current.state, ())
        if to_state not in allowed:
            raise IncidentError(
                f"incident #{incident_id} is {current.state}; it can go to {', '.join(allowed) or 'nothing'}, "
                f"not {to_state}"
            )
        now = utcnow()
        values: dict[str, Any] = {"state": to_state, "updated_at": now}
        if to_state == "closed":
            values["closed_at"] = now
        elif to_state == "reopened":
            values["closed_at"] = None
        q.update_incident(conn, incident_id, values)
        q.insert_event(
            conn,
            incident_id,
            actor=actor,
            from_state=current.state,
            to_state=to_state,
            comment=comment,
            at=now,
        )
        updated = q.read_incident(conn, incident_id)
    assert updated is not None
    return updated


def record_note(engine: Engine, incident_id: int, *, actor: str, comment: str) -> None:
    """Add a history entry that does not change the state (e.g. a notification sent)."""
    with engine.begin() as conn:
        current = q.read_incident(conn, incident_id)
        if current is None:
            raise IncidentError(f"no incident #{incident_id}")
        q.insert_event(
            conn,
            incident_id,
            actor=actor,
            from_state=current.state,
            to_state=current.state,
            comment=comment,
            at=utcnow(),
        )


def store_external_ref(engine: Engine, incident_id: int, field: str, value: str, *, actor: str) -> None:
    """Record a TheHive id or JIRA key on an incident, with a note in its history."""
    with engine.begin() as conn:
        q.set_external_ref(conn, incident_id, field, value, utcnow())
    record_note(engine, incident_id, actor=actor, comment=f"{field} = {value}")


def get_incident(engine: Engine, incident_id: int) -> IncidentView:
    """One incident and its history."""
    with engine.connect() as conn:
        incident = q.read_incident(conn, incident_id)
        if incident is None:
            raise IncidentError(f"no incident #{incident_id}")
        return IncidentView(incident=incident, history=q.read_events(conn, incident_id))


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
    with engine.connect() as conn:
        return q.select_incidents(
            conn, state=state, min_severity=min_severity, assignee=assignee, since=since, limit=limit
        )


class IncidentExecutor:
    """Open an incident for the alert unless it already has one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def __call__(self, item: OutboxItem) -> None:
        request = item.request
        await asyncio.to_thread(
            open_incident,
            self._engine,
            request.alert_uuid,
            actor=f"profile:{request.profile}",
            assignee=getattr(request.action, "assignee", None),
            comment=f"opened by response profile {request.profile}",
            if_absent=True,
        )
