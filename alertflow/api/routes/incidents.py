"""`/incidents`: list and count, open one from an alert, move it along with a comment, its history.

The rules (one incident per alert, which moves are allowed, every change in the history)
are response.incidents'; this module adds tenants, roles and the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import Engine

from alertflow.api import alert_queries, audit, incident_search
from alertflow.api.accounts import Principal
from alertflow.api.auth import Analyst, Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.incident_schemas import (
    Incident,
    IncidentNote,
    IncidentOpen,
    IncidentPage,
    IncidentSearch,
    IncidentStateChange,
    IncidentStats,
    IncidentView,
)
from alertflow.api.schemas import Problem, RowId
from alertmodel.errors import IncidentError
from response import incidents

router = APIRouter(prefix="/incidents", tags=["incidents"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such incident (for you)."}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Refused by the incident rules."}
}


@router.get("", response_model=IncidentPage)
def list_incidents(
    engine: EngineDep, principal: Viewer, search: Annotated[IncidentSearch, Query()]
) -> IncidentPage:
    """Incidents, newest first, filtered by state, minimum severity, assignee, creation time or alert."""
    with engine.connect() as conn:
        items, next_cursor = incident_search.search(conn, principal, search)
    return IncidentPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get("/stats", response_model=IncidentStats)
def incident_stats(engine: EngineDep, principal: Viewer) -> IncidentStats:
    """How many incidents are in each state."""
    with engine.connect() as conn:
        counts = incident_search.counts_by_state(conn, principal)
    return IncidentStats(by_state=counts, total=sum(counts.values()))


@router.get("/{incident_id}", response_model=IncidentView, responses=NOT_FOUND)
def get_incident(incident_id: RowId, engine: EngineDep, principal: Viewer) -> IncidentView:
    """One incident with its history, oldest change first."""
    check_visible(engine, principal, incident_id)
    return incident_view(engine, incident_id)


@router.post(
    "",
    response_model=IncidentView,
    status_code=201,
    responses={404: {"model": Problem, "description": "No such alert (for you)."}, **CONFLICT},
)
def open_incident(body: IncidentOpen, engine: EngineDep, analyst: Analyst) -> IncidentView:
    """Open an incident for an alert (its status becomes `incident`); 409 when it has one already."""
    with engine.connect() as conn:
        if alert_queries.one_alert(conn, analyst, body.alert_uuid) is None:
            raise HTTPException(404, f"no alert {body.alert_uuid}")
    try:
        incident = incidents.open_incident(
            engine, body.alert_uuid, actor=analyst.name, comment=body.comment, assignee=body.assignee
        )
    except IncidentError as exc:
        raise HTTPException(409, str(exc)) from None
    assert incident.id is not None
    view = incident_view(engine, incident.id)
    audit.record_now(
        engine,
        actor=analyst.name,
        action="incident.open",
        target=f"incident/{incident.id}",
        after=Incident.model_validate(view.model_dump()).model_dump(mode="json"),
    )
    return view


@router.post("/{incident_id}/state", response_model=IncidentView, responses={**NOT_FOUND, **CONFLICT})
def change_incident_state(
    incident_id: RowId, body: IncidentStateChange, engine: EngineDep, analyst: Analyst
) -> IncidentView:
    """Move an incident to another state with a comment; 409 when the state machine forbids the move."""
    check_visible(engine, analyst, incident_id)
    before = incident_view(engine, incident_id)
    try:
        incidents.change_state(engine, incident_id, body.state, actor=analyst.name, comment=body.comment)
    except IncidentError as exc:
        raise HTTPException(409, str(exc)) from None
    after = incident_view(engine, incident_id)
    audit.record_now(
        engine,
        actor=analyst.name,
        action="incident.state",
        target=f"incident/{incident_id}",
        before={"state": before.state},
        after={"state": after.state, "comment": body.comment},
    )
    return after


@router.post("/{incident_id}/notes", response_model=IncidentView, responses=NOT_FOUND)
def add_incident_note(
    incident_id: RowId, body: IncidentNote, engine: EngineDep, analyst: Analyst
) -> IncidentView:
    """Add a comment to an incident's history without changing its state."""
    check_visible(engine, analyst, incident_id)
    incidents.record_note(engine, incident_id, actor=analyst.name, comment=body.comment)
    audit.record_now(
        engine,
        actor=analyst.name,
        action="incident.note",
        target=f"incident/{incident_id}",
        after={"comment": body.comment},
    )
    return incident_view(engine, incident_id)


def check_visible(engine: Engine, principal: Principal, incident_id: int) -> None:
    with engine.connect() as conn:
        if not incident_search.is_visible(conn, principal, incident_id):
            raise HTTPException(404, f"no incident {incident_id}")


def incident_view(engine: Engine, incident_id: int) -> IncidentView:
    view = incidents.get_incident(engine, incident_id)
    return IncidentView.model_validate(
        {**view.incident.model_dump(), "history": [e.model_dump() for e in view.history]}
    )
