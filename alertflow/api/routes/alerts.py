"""`/alerts`: search with keyset pages, one alert with its raw event, related alerts, its response."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Engine, select

from alertflow.api import alert_export, alert_queries
from alertflow.api.accounts import Principal
from alertflow.api.alert_schemas import Alert, AlertExport, AlertPage, AlertSearch, PlaybookRun, RelatedAlerts
from alertflow.api.auth import Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.incident_schemas import IncidentView
from alertflow.api.query_model import query_model
from alertflow.api.schemas import Problem
from alertmodel import incident_queries
from alertmodel.response_tables import PlaybookRun as PlaybookRunRow

router = APIRouter(prefix="/alerts", tags=["alerts"])
AlertUuid = Annotated[str, Path(pattern=r"^[0-9A-Fa-f-]{32,37}$", description="The alert's alert_uuid.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such alert (for you)."}
}
_RUNS = PlaybookRunRow.__table__
_FILENAMES = {"ocsf": "alerts.ocsf.jsonl", "ecs": "alerts.ecs.jsonl"}


class AlertResponse(BaseModel):
    """What alertflow did about an alert: its incident (with history) and its playbook runs."""

    incident: IncidentView | None
    playbook_runs: list[PlaybookRun]


_parse_search, _SEARCH_PARAMETERS = query_model(AlertSearch)


@router.get("", response_model=AlertPage, openapi_extra=_SEARCH_PARAMETERS)
def search_alerts(
    engine: EngineDep, principal: Viewer, search: Annotated[AlertSearch, Depends(_parse_search)]
) -> Response:
    """Alerts matching every given filter, newest first (or as `sort` says), one keyset page at a time."""
    return _json(alert_page(engine, principal, search))


def alert_page(engine: Engine, principal: Principal, search: AlertSearch) -> AlertPage:
    """One page of a search (the route's answer; the console renders it)."""
    with engine.connect() as conn:
        items, next_cursor = alert_queries.search(conn, principal, search)
    return AlertPage.model_validate({"items": items, "next_cursor": next_cursor})


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media, _ in alert_export.FORMATS.values()}}},
)
def export_alerts(
    engine: EngineDep, principal: Viewer, export: Annotated[AlertExport, Query()]
) -> StreamingResponse:
    """Every alert matching the filters, oldest stored first, streamed (JSON lines, CSV or STIX)."""
    clauses = alert_export.matching(engine, principal, export)
    media_type, write = alert_export.FORMATS[export.format]
    filename = _FILENAMES.get(export.format, f"alerts.{export.format}")
    return StreamingResponse(
        write(alert_export.rows(engine, clauses)),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/{alert_uuid}", response_model=Alert, responses=NOT_FOUND)
def get_alert(alert_uuid: AlertUuid, engine: EngineDep, principal: Viewer) -> Response:
    """Every field of one alert, with `json_event` parsed."""
    return _json(alert_view(engine, principal, alert_uuid))


def alert_view(engine: Engine, principal: Principal, alert_uuid: str) -> Alert:
    """One alert the principal may see (404 otherwise), with its event parsed."""
    with engine.connect() as conn:
        row = alert_queries.one_alert(conn, principal, alert_uuid)
    if row is None:
        raise _not_found(alert_uuid)
    row.pop("alert_id")
    row["json_event"] = _parsed(row["json_event"])
    return Alert.model_validate(row)


def _json(model: BaseModel) -> Response:
    """The validated model as its JSON, directly: FastAPI would validate it again in a worker thread."""
    return Response(model.model_dump_json(), media_type="application/json")


@router.get("/{alert_uuid}/related", response_model=RelatedAlerts, responses=NOT_FOUND)
def related_alerts(
    alert_uuid: AlertUuid,
    engine: EngineDep,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> RelatedAlerts:
    """The newest other alerts with the same source IP, the same event, the same agent."""
    with engine.connect() as conn:
        alert = alert_queries.one_alert(conn, principal, alert_uuid)
        if alert is None:
            raise _not_found(alert_uuid)
        groups = alert_queries.related(conn, principal, alert, limit)
    return RelatedAlerts.model_validate(groups)


@router.get("/{alert_uuid}/response", response_model=AlertResponse, responses=NOT_FOUND)
def alert_response(
    alert_uuid: AlertUuid, request: Request, engine: EngineDep, principal: Viewer
) -> AlertResponse:
    """The alert's incident with its history, and the playbook runs started for it (with Prefect UI links)."""
    ui = request.app.state.prefect_ui_url
    with engine.connect() as conn:
        if alert_queries.one_alert(conn, principal, alert_uuid) is None:
            raise _not_found(alert_uuid)
        incident = incident_queries.incident_of_alert(conn, alert_uuid)
        history = incident_queries.read_events(conn, incident.id) if incident and incident.id else []
        runs = conn.execute(select(_RUNS).where(_RUNS.c.alert_uuid == alert_uuid).order_by(_RUNS.c.id)).all()
    view = None
    if incident is not None:
        view = IncidentView.model_validate(
            {**incident.model_dump(), "history": [e.model_dump() for e in history]}
        )
    return AlertResponse(
        incident=view,
        playbook_runs=[
            PlaybookRun.model_validate(
                {
                    **dict(r._mapping),
                    "ui_url": f"{ui}/runs/flow-run/{r.flow_run_id}" if ui and r.flow_run_id else None,
                }
            )
            for r in runs
        ],
    )


def _not_found(alert_uuid: str) -> HTTPException:
    return HTTPException(404, f"no alert {alert_uuid}")


def _parsed(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
