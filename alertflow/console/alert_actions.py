"""What an analyst does from an alert's history page: run a playbook for it, notify a group,
and the panels the page loads beside it (its IDS rule, its playbook runs as they progress).

Every action calls the API's own route function with the signed-in principal, so roles,
tenants, the run's idempotency key and the audit log are exactly the API's.

Notifying is about an incident, as in the API (`POST /incidents/{id}/notify`): the group is
told what the SOC is doing about the alert, and the incident's history says who was told.
From an alert without one, "notify a group" opens its incident first, then notifies.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alertflow.api.incident_schemas import IncidentOpen
from alertflow.api.routes import alerts as alert_routes
from alertflow.api.routes import incidents as incident_routes
from alertflow.api.routes import playbooks as playbook_routes
from alertflow.api.routes import user_groups as group_routes
from alertflow.console import ids_rule
from alertflow.console.incident_actions import notify_problem, send_notice
from alertflow.console.pages import (
    TEMPLATES,
    ConsoleError,
    FormDep,
    Visit,
    VisitDep,
    _alert_uuid,
    _checked,
    _engine,
    _page_not_found,
    _problems,
    render,
)
from alertflow.console.playbook_form import FormField, form_fields, read_form
from response.playbook_runs import FINAL_STATES

router = APIRouter(include_in_schema=False)
TEMPLATES.globals["FINAL_STATES"] = FINAL_STATES  # the runs panel refreshes itself until these


# --- panels of the history page ----------------------------------------------------------------


@router.get("/alerts/{alert_uuid}/ids-rule")
async def alert_ids_rule(request: Request, alert_uuid: str, visit: VisitDep) -> Response:
    """The alert's IDS rule from its sensor's rules file, or why it is not available (a page panel)."""
    alert = _visible_alert(request, visit, alert_uuid)
    found = await ids_rule.find_rule(request, source=alert.source, sensor=alert.sensor, event=alert.event)
    fragment = request.headers.get("hx-request") == "true"
    return render(request, "alert_rule.html", visit, found=found, alert=alert, fragment=fragment)


@router.get("/alerts/{alert_uuid}/runs")
def alert_runs(request: Request, alert_uuid: str, visit: VisitDep) -> Response:
    """The alert's playbook runs with their state and Prefect UI link (refreshes itself while one runs)."""
    alert_uuid = _alert_uuid(alert_uuid)
    try:
        response = alert_routes.alert_response(alert_uuid, request, _engine(request), visit.principal)
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    return render(request, "alert_runs.html", visit, alert_uuid=alert_uuid, runs=response.playbook_runs)


# --- run a playbook for the alert ---------------------------------------------------------------


@router.get("/alerts/{alert_uuid}/playbooks")
async def playbook_form_page(
    request: Request, alert_uuid: str, visit: VisitDep, deployment: str = ""
) -> Response:
    """The deployments that take an alert; for the chosen one, a form from its parameter schema."""
    _require_analyst(visit)
    alert = _visible_alert(request, visit, alert_uuid)
    playbooks = await _playbooks(request, visit)
    chosen = next((p for p in playbooks if p.name == deployment), None)
    if deployment and chosen is None:
        raise ConsoleError(404, "no playbook of that name takes an alert")
    fields = form_fields(chosen.parameter_schema, chosen.parameters) if chosen else []
    return _form(request, visit, alert, playbooks, chosen, fields, {}, [], status=200)


@router.post("/alerts/{alert_uuid}/playbook-runs")
async def run_playbook(request: Request, alert_uuid: str, visit: VisitDep, fields: FormDep) -> Response:
    """Start the chosen deployment for the alert through the API's run service, then show the alert."""
    _checked(visit, fields, "analyst")
    alert = _visible_alert(request, visit, alert_uuid)
    playbooks = await _playbooks(request, visit)
    chosen = next((p for p in playbooks if p.name == fields.get("deployment")), None)
    if chosen is None:
        raise ConsoleError(422, "deployment: choose a playbook that takes an alert")
    form = form_fields(chosen.parameter_schema, chosen.parameters)
    parameters, problems = read_form(form, fields)
    if not problems:
        try:
            body = playbook_routes.PlaybookRunRequest.model_validate(
                {"deployment": chosen.name, "parameters": parameters}
            )
            await playbook_routes.run_playbook(
                alert.alert_uuid, body, request, _engine(request), visit.principal
            )
        except RequestValidationError as exc:
            problems = _by_parameter(exc.errors())
        except ValidationError as exc:
            problems = {"": "; ".join(_problems(exc))}
        except HTTPException as exc:
            if exc.status_code == 404:
                raise _page_not_found(exc) from None
            entered = {f.name: fields.get(f.input_name, "") for f in form}
            return _form(
                request,
                visit,
                alert,
                playbooks,
                chosen,
                form,
                entered,
                [str(exc.detail)],
                status=exc.status_code,
            )
    if problems:
        entered = {f.name: fields.get(f.input_name, "") for f in form}
        listed = [f"{name}: {why}" if name else why for name, why in problems.items()]
        return _form(request, visit, alert, playbooks, chosen, form, entered, listed, status=422)
    return RedirectResponse(f"/alerts/{alert.alert_uuid}#playbook-runs", status_code=303)


def _by_parameter(errors: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        name = loc[2] if loc[:2] == ["body", "parameters"] and len(loc) > 2 else ".".join(loc[1:])
        found.setdefault(name, str(error.get("msg", "")))
    return found


async def _playbooks(request: Request, visit: Visit) -> list[playbook_routes.Playbook]:
    """The deployments a manual run can use (their flow takes `alert`), via the API's listing."""
    try:
        listed = await playbook_routes.list_playbooks(request, visit.principal)
    except HTTPException as exc:
        raise ConsoleError(exc.status_code, str(exc.detail)) from None
    return [p for p in listed if p.takes_alert]


def _form(
    request: Request,
    visit: Visit,
    alert: Any,
    playbooks: list[playbook_routes.Playbook],
    chosen: playbook_routes.Playbook | None,
    fields: list[FormField],
    entered: dict[str, str],
    problems: list[str],
    *,
    status: int,
) -> Response:
    return render(
        request,
        "alert_playbook.html",
        visit,
        status=status,
        alert=alert,
        playbooks=playbooks,
        chosen=chosen,
        fields=fields,
        entered=entered,
        problems=problems,
    )


# --- notify a group -----------------------------------------------------------------------------


@router.post("/alerts/{alert_uuid}/notify")
async def notify_about_alert(request: Request, alert_uuid: str, visit: VisitDep, fields: FormDep) -> Response:
    """Tell a group about the alert through its incident (opened now when it has none)."""
    _checked(visit, fields, "analyst")
    alert = _visible_alert(request, visit, alert_uuid)
    problem = notify_problem(fields)
    if problem:
        raise ConsoleError(422, problem)
    engine = _engine(request)
    try:  # a group that does not exist opens no incident
        group_routes.get_user_group(fields.get("group", ""), engine, visit.principal)
    except HTTPException as exc:
        raise ConsoleError(422, str(exc.detail)) from None
    response = alert_routes.alert_response(alert.alert_uuid, request, engine, visit.principal)
    if response.incident is not None:
        incident_id = response.incident.id
    else:
        try:
            body = IncidentOpen(
                alert_uuid=alert.alert_uuid, comment=f"opened to notify {fields.get('group', '')}"[:4000]
            )
            incident_id = incident_routes.open_incident(body, engine, visit.principal).id
        except ValidationError as exc:
            raise ConsoleError(422, "; ".join(_problems(exc))) from None
        except HTTPException as exc:
            raise _page_not_found(exc) from None
    return await send_notice(request, visit, incident_id, fields)


# --- helpers ------------------------------------------------------------------------------------


def _require_analyst(visit: Visit) -> None:
    if not visit.principal.has_role("analyst"):
        raise ConsoleError(403, "this needs the analyst role")


def _visible_alert(request: Request, visit: Visit, alert_uuid: str) -> Any:
    """The alert the user may see (the API's query, tenants included); 404 otherwise."""
    try:
        return alert_routes.alert_view(_engine(request), visit.principal, _alert_uuid(alert_uuid))
    except HTTPException as exc:
        raise _page_not_found(exc) from None
