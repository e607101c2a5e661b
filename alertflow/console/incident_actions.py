"""What an analyst does from an incident's page: notify a group (e-mail, Slack, SMS) and send it
to JIRA or TheHive, through the API's own notify and escalate routes (same blocks, same checks,
same audit). An escalation happens once: a second send shows the key stored the first time.
A post that did something answers 303 to the incident's page, which says once what was done
(a flash kept in the session), so reloading that page never notifies or sends again.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from alertflow.api.routes import incident_actions as action_routes
from alertflow.api.routes import incidents as incident_routes
from alertflow.api.routes import user_groups as group_routes
from alertflow.console.pages import (
    ConsoleError,
    FormDep,
    Visit,
    VisitDep,
    _checked,
    _engine,
    _incident_id,
    _page_not_found,
    _problems,
    redirect_after_post,
    render,
)
from response.incidents import TRANSITIONS

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
ESCALATION_NAMES = {"jira": "JIRA", "thehive": "TheHive"}
CHANNEL_NAMES = {"email": "e-mail", "slack": "Slack", "twilio": "SMS (Twilio)"}


def _notify_body(fields: dict[str, str]) -> action_routes.IncidentNotify:
    return action_routes.IncidentNotify.model_validate(
        {
            "group": fields.get("group", ""),
            "via": fields.get("via", ""),
            "block": fields.get("block", "").strip() or "default",
        }
    )


def notify_problem(fields: dict[str, str]) -> str:
    """What is wrong with a posted notify form ('' when nothing)."""
    try:
        _notify_body(fields)
    except ValidationError as exc:
        return "; ".join(_problems(exc))
    return ""


@router.post("/incidents/{incident_id}/notify")
async def notify_group(request: Request, incident_id: str, visit: VisitDep, fields: FormDep) -> Response:
    """Tell a user group about the incident (analyst)."""
    _checked(visit, fields, "analyst")
    return await send_notice(request, visit, _incident_id(incident_id), fields)


async def send_notice(request: Request, visit: Visit, incident_id: int, fields: dict[str, str]) -> Response:
    """Notify through the API's route, then send the browser to the incident saying who was told (or show why not)."""
    try:
        body = _notify_body(fields)
    except ValidationError as exc:
        raise ConsoleError(422, "; ".join(_problems(exc))) from None
    told = await _attempt(
        request,
        visit,
        incident_id,
        action_routes.notify_incident(incident_id, body, request, _engine(request), visit.principal),
    )
    if isinstance(told, Response):
        return told
    notice = f"Notified {body.group} by {CHANNEL_NAMES[body.via]}: {', '.join(told.recipients)}"
    return redirect_after_post(request, visit, f"/incidents/{incident_id}", notice=notice)


async def _attempt(request: Request, visit: Visit, incident_id: int, action: Awaitable[T]) -> T | Response:
    """What the API's route returned, or the incident's page saying why it refused (404 as a 404 page)."""
    try:
        return await action
    except RequestValidationError as exc:
        return incident_page(request, visit, incident_id, problem=_first(exc), status=422)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise _page_not_found(exc) from None
        return incident_page(request, visit, incident_id, problem=str(exc.detail), status=exc.status_code)


@router.post("/incidents/{incident_id}/escalate")
async def escalate(request: Request, incident_id: str, visit: VisitDep, fields: FormDep) -> Response:
    """Send the incident to JIRA or TheHive once; a second send shows the key it has (analyst)."""
    _checked(visit, fields, "analyst")
    number = _incident_id(incident_id)
    try:
        body = action_routes.IncidentEscalate.model_validate(
            {
                "to": fields.get("to", ""),
                "block": fields.get("block", "").strip() or "default",
                "project": fields.get("project", "").strip() or None,
            }
        )
    except ValidationError as exc:
        raise ConsoleError(422, "; ".join(_problems(exc))) from None
    sent = await _attempt(
        request,
        visit,
        number,
        action_routes.escalate_incident(number, body, request, _engine(request), visit.principal),
    )
    if isinstance(sent, Response):
        return sent
    product = ESCALATION_NAMES[sent.to]
    notice = (
        f"Sent to {product} as {sent.key}"
        if sent.sent
        else f"Already in {product} as {sent.key}: nothing was sent again"
    )
    return redirect_after_post(request, visit, f"/incidents/{number}", notice=notice)


def _first(exc: RequestValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()
    )


def incident_page(
    request: Request,
    visit: Visit,
    incident_id: int,
    *,
    problem: str = "",
    status: int = 200,
) -> Response:
    """The incident's page with its history, its forms, and why an action was refused (or, once, what it did)."""
    engine = _engine(request)
    try:
        incident = incident_routes.get_incident(incident_id, engine, visit.principal)
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    groups = [g.name for g in group_routes.list_user_groups(engine, visit.principal)]
    return render(
        request,
        "incident.html",
        visit,
        status=status,
        incident=incident,
        moves=TRANSITIONS.get(incident.state, ()),
        groups=groups,
        notice="",  # a flash of the post that redirected here replaces it
        problem=problem,
    )
