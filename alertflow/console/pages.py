"""The console's pages: sign-in, dashboard, alert search and history, incidents, the audit log.

Every page calls the API's own route functions (with the signed-in principal), so roles,
tenants, validation and the audit log are exactly the API's. Every value shown is escaped
(Jinja autoescape); alert fields are never a link target, a script or a style.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import ValidationError
from sqlalchemy import Engine

from alertflow.api import accounts
from alertflow.api.accounts import Principal
from alertflow.api.alert_schemas import AlertSearch, AlertSummary
from alertflow.api.auth import limiter
from alertflow.api.incident_schemas import IncidentOpen, IncidentSearch, IncidentStateChange
from alertflow.api.routes import alerts as alert_routes
from alertflow.api.routes import approvals as approval_routes
from alertflow.api.routes import audit as audit_routes
from alertflow.api.routes import category_profiles as profile_routes
from alertflow.api.routes import incidents as incident_routes
from alertflow.api.routes import user_groups as group_routes
from alertflow.api.sign_in_limit import refusal
from alertflow.console import dashboard
from alertflow.console.sessions import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    Session,
    SessionStore,
    csrf_matches,
    new_login_csrf,
)
from alertmodel.alert import ALERT_STATUSES
from alertmodel.user_settings import read_settings
from response.incidents import TRANSITIONS

router = APIRouter(include_in_schema=False)
UUID_PATTERN = re.compile(r"^[0-9A-Fa-f-]{32,37}$")  # the API's AlertUuid path pattern
HTMX = "htmx-2.0.11.min.js"
STATIC = {HTMX: "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
ALERT_FIELDS = list(AlertSummary.model_fields)
MULTI_VALUED = {"severity", "status", "state"}
MAX_FORM_FIELDS = 50

TEMPLATES = Environment(
    loader=PackageLoader("alertflow.console", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


TEMPLATES.filters["when"] = _when
TEMPLATES.globals.update(
    HTMX=HTMX,
    SEVERITY_NAMES=dashboard.SEVERITY_NAMES,
    ALERT_STATUSES=ALERT_STATUSES,
    INCIDENT_STATES=list(TRANSITIONS),
    WINDOWS=list(dashboard.WINDOWS),
    CSRF_FIELD=CSRF_FIELD,
)


class ConsoleError(Exception):
    """A page that cannot be shown: its HTTP status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page."""


@dataclass(frozen=True)
class Visit:
    """A request of a signed-in user: who (read now from the user table) and their session."""

    principal: Principal
    session: Session

    @property
    def csrf(self) -> str:
        return self.session.csrf


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.console_sessions
    return store


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _visit(request: Request, *, touch: bool) -> Visit:
    store = _store(request)
    cookie = request.cookies.get(COOKIE)
    session = store.get(cookie, touch=touch)
    if session is None:
        raise SignInRequired
    principal = accounts.principal_of(_engine(request), session.user)
    if principal is None:  # disabled or deleted since sign-in
        store.end_all(session.user)
        raise SignInRequired
    return Visit(principal, session)


def signed_in(request: Request) -> Visit:
    """The visit of a signed-in user, or SignInRequired.

    The console's htmx requests are its self-refreshes (dashboard, live alert list): they do
    not count as activity, so an unattended screen still reaches the idle timeout.
    """
    return _visit(request, touch=request.headers.get("hx-request") != "true")


VisitDep = Annotated[Visit, Depends(signed_in)]


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form posted from this origin (first value of each name)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != str(request.base_url).rstrip("/"):
        raise ConsoleError(403, "this form was posted from another site")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise ConsoleError(415, "forms are posted URL-encoded")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise ConsoleError(400, "the form could not be read") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _checked(visit: Visit, fields: dict[str, str], role: str) -> None:
    """Refuse a post whose CSRF token is not the session's, or whose user lacks `role`."""
    if not csrf_matches(visit.csrf, fields.get(CSRF_FIELD)):
        raise ConsoleError(
            403, "the form's security token is missing or wrong; reload the page and try again"
        )
    if not visit.principal.has_role(role):
        raise ConsoleError(403, f"this needs the {role} role")


def render(
    request: Request, template: str, visit: Visit | None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page from `template`; never cached, since it shows alert data.

    A GET shows, once, the flash a post kept for this path (see `redirect_after_post`).
    """
    if visit is not None and request.method == "GET":
        context.update(_store(request).pop_flash(visit.session, request.url.path))
    html = TEMPLATES.get_template(template).render(
        user=visit.principal if visit else None,
        csrf=visit.csrf if visit else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def redirect_after_post(request: Request, visit: Visit, path: str, **flash: Any) -> Response:
    """303 to the page at `path`, whose next render shows `flash` once.

    The flash stays in the session, not the URL: reloading the page does not post again, and a
    link cannot put words in the console's mouth.
    """
    _store(request).set_flash(visit.session, path, **flash)
    return RedirectResponse(path, status_code=303)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _local_path(target: str | None) -> str:
    """`target` when it is a path on this site, else the dashboard (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 0x20 for ch in target):
        return "/"
    return target


def _query_dict(request: Request, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Query parameters without empty values; the multi-valued ones as lists."""
    values: dict[str, Any] = {}
    for name in request.query_params:
        if name in drop:
            continue
        given = [v for v in request.query_params.getlist(name) if v != ""]
        if given:
            values[name] = given if name in MULTI_VALUED else given[-1]
    return values


def _problems(exc: ValidationError | HTTPException) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}" for e in exc.errors()]
    detail = exc.detail
    if isinstance(detail, list):
        return [f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg', '')}" for d in detail]
    return [str(detail)]


def _page_not_found(exc: HTTPException) -> ConsoleError:
    return ConsoleError(exc.status_code, str(exc.detail))


# --- sign-in ------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form, with a fresh double-submit CSRF token."""
    token = new_login_csrf()
    response = render(request, "login.html", None, next=_local_path(next), login_csrf=token, failed="")
    _set_login_csrf(request, response, token)
    return response


@router.post("/login")
def login(request: Request, fields: FormDep) -> Response:
    """Check the name and password (argon2, as the API does) and start a session.

    Failures count against the name and the address in the limiter the API's Basic sign-in uses.
    """
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), fields.get(CSRF_FIELD)):
        raise ConsoleError(403, "the sign-in form's security token is missing or wrong; reload the page")
    name, password = fields.get("username", ""), fields.get("password", "")
    target = _local_path(fields.get("next"))
    counts, address = limiter(request), request.client.host if request.client else None
    wait = counts.wait_s(name, address)
    if wait:
        token = new_login_csrf()
        response = render(
            request, "login.html", None, status=429, next=target, login_csrf=token, failed=refusal(wait)
        )
        response.headers["Retry-After"] = str(wait)
        _set_login_csrf(request, response, token)
        return response
    principal = None
    if 0 < len(password) <= accounts.MAX_PASSWORD:
        principal = accounts.sign_in_with_password(_engine(request), name, password)
    if principal is None:
        counts.failed(name, address)
        token = new_login_csrf()
        response = render(
            request,
            "login.html",
            None,
            status=401,
            next=target,
            login_csrf=token,
            failed="Wrong user name or password.",
        )
        _set_login_csrf(request, response, token)
        return response
    counts.succeeded(name)
    cookie, _ = _store(request).start(principal.name)
    _store(request).end(request.cookies.get(COOKIE))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", secure=_secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", secure=_secure(request), httponly=True)
    return response


def _set_login_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/login"
    )


@router.post("/logout")
def logout(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """End the session and forget its cookie."""
    _checked(visit, fields, "viewer")
    _store(request).end(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return response


# --- dashboard ----------------------------------------------------------------------------------


def _dashboard(request: Request, visit: Visit, window: str) -> dashboard.Dashboard:
    if window not in dashboard.WINDOWS:
        raise ConsoleError(422, f"window must be one of {', '.join(dashboard.WINDOWS)}")
    with _engine(request).connect() as conn:
        return dashboard.summarize(conn, visit.principal, window=window, now=datetime.now(UTC))


def _window(request: Request, visit: Visit, window: str | None) -> str:
    """The window asked for, else the one the user saved in their settings."""
    if window is not None:
        return window
    with _engine(request).connect() as conn:
        return read_settings(conn, visit.principal.name).dashboard_window


@router.get("/")
def dashboard_page(request: Request, visit: VisitDep, window: str | None = None) -> Response:
    """Totals and charts over the window (the user's own by default), open incidents and health."""
    board = _dashboard(request, visit, _window(request, visit, window))
    return render(request, "dashboard.html", visit, board=board)


@router.get("/dashboard/panels")
def dashboard_panels(request: Request, visit: VisitDep, window: str | None = None) -> Response:
    """The dashboard's panels alone: what the page's self-refresh swaps in."""
    board = _dashboard(request, visit, _window(request, visit, window))
    return render(request, "dashboard_panels.html", visit, board=board)


# --- alerts -------------------------------------------------------------------------------------


@router.get("/alerts")
def alerts_page(request: Request, visit: VisitDep) -> Response:
    """The alert search: the API's filters, one keyset page at a time."""
    given = _query_dict(request)
    engine = _engine(request)
    problems: list[str] = []
    page = None
    try:
        search = AlertSearch.model_validate(given)
        page = alert_routes.alert_page(engine, visit.principal, search)
    except (ValidationError, HTTPException) as exc:
        problems = _problems(exc)
    next_url = None
    if page is not None and page.next_cursor:
        next_url = "/alerts?" + urlencode({**given, "cursor": page.next_cursor}, doseq=True)
    profiles = [p.name for p in profile_routes.list_category_profiles(engine, visit.principal)]
    filters = {k: v for k, v in given.items() if k != "cursor"}
    return render(
        request,
        "alerts.html",
        visit,
        status=422 if problems else 200,
        page=page,
        problems=problems,
        filters=filters,
        profiles=profiles,
        next_url=next_url,
        paged="cursor" in given,
        first_url="/alerts?" + urlencode(filters, doseq=True),
        live=page is not None
        and not problems
        and "cursor" not in given
        and given.get("sort", "-time_collr") == "-time_collr",
    )


def _alert_uuid(alert_uuid: str) -> str:
    if not UUID_PATTERN.match(alert_uuid):
        raise ConsoleError(404, "no such alert")
    return alert_uuid


@router.get("/alerts/{alert_uuid}")
def alert_history(request: Request, alert_uuid: str, visit: VisitDep) -> Response:
    """One alert: every field, its raw event, related alerts, its incident and playbook runs."""
    alert_uuid = _alert_uuid(alert_uuid)
    engine = _engine(request)
    try:
        alert = alert_routes.alert_view(engine, visit.principal, alert_uuid)
        related = alert_routes.related_alerts(alert_uuid, engine, visit.principal, limit=10)
        response = alert_routes.alert_response(alert_uuid, request, engine, visit.principal)
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    raw = alert.json_event
    pretty = raw if isinstance(raw, str) else json.dumps(raw, indent=2, ensure_ascii=False, default=str)
    return render(
        request,
        "alert.html",
        visit,
        alert=alert,
        fields=[(name, getattr(alert, name)) for name in ALERT_FIELDS],
        raw_json=pretty,
        related=related,
        response=response,
        groups=[g.name for g in group_routes.list_user_groups(engine, visit.principal)],
    )


@router.post("/alerts/{alert_uuid}/incident")
def open_incident(request: Request, alert_uuid: str, visit: VisitDep, fields: FormDep) -> Response:
    """Open an incident for the alert (analyst) and show it."""
    _checked(visit, fields, "analyst")
    alert_uuid = _alert_uuid(alert_uuid)
    try:
        body = IncidentOpen(alert_uuid=alert_uuid, comment=fields.get("comment", ""))
        view = incident_routes.open_incident(body, _engine(request), visit.principal)
    except ValidationError as exc:
        raise ConsoleError(422, "; ".join(_problems(exc))) from None
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    return RedirectResponse(f"/incidents/{view.id}", status_code=303)


# --- incidents ----------------------------------------------------------------------------------


@router.get("/incidents")
def incidents_page(request: Request, visit: VisitDep) -> Response:
    """Incidents, newest first, with counts by state."""
    given = _query_dict(request)
    engine = _engine(request)
    problems: list[str] = []
    page = None
    try:
        page = incident_routes.list_incidents(engine, visit.principal, IncidentSearch.model_validate(given))
    except (ValidationError, HTTPException) as exc:
        problems = _problems(exc)
    stats = incident_routes.incident_stats(engine, visit.principal)
    next_url = None
    if page is not None and page.next_cursor:
        next_url = "/incidents?" + urlencode({**given, "cursor": page.next_cursor}, doseq=True)
    return render(
        request,
        "incidents.html",
        visit,
        status=422 if problems else 200,
        page=page,
        stats=stats,
        problems=problems,
        filters={k: v for k, v in given.items() if k != "cursor"},
        next_url=next_url,
    )


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, incident_id: str, visit: VisitDep) -> Response:
    """One incident with its history and, for analysts, the state-change, notify and send forms."""
    from alertflow.console.incident_actions import incident_page as show  # it builds on this module

    return show(request, visit, _incident_id(incident_id))


@router.post("/incidents/{incident_id}/state")
def change_incident_state(request: Request, incident_id: str, visit: VisitDep, fields: FormDep) -> Response:
    """Move the incident to another state with a comment (analyst)."""
    _checked(visit, fields, "analyst")
    number = _incident_id(incident_id)
    try:
        body = IncidentStateChange.model_validate(
            {"state": fields.get("state", ""), "comment": fields.get("comment", "")}
        )
        incident_routes.change_incident_state(number, body, _engine(request), visit.principal)
    except ValidationError as exc:
        raise ConsoleError(422, "; ".join(_problems(exc))) from None
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    return RedirectResponse(f"/incidents/{number}", status_code=303)


def _incident_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) < 2**63:
        raise ConsoleError(404, "no such incident")
    return int(text)


# --- approvals ----------------------------------------------------------------------------------


@router.get("/approvals")
def approvals_page(request: Request, visit: VisitDep) -> Response:
    """Playbook runs waiting for a decision about alerts this user may see."""
    try:
        waiting = approval_routes.waiting(request, _engine(request), visit.principal)
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    return render(request, "approvals.html", visit, waiting=waiting)


@router.post("/approvals/{flow_run_id}")
def decide_approval(request: Request, flow_run_id: str, visit: VisitDep, fields: FormDep) -> Response:
    """Approve or reject a waiting run, with a reason (analyst of the run's alert's tenant)."""
    _checked(visit, fields, "analyst")
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        raise ConsoleError(404, "no such run") from None
    decision = fields.get("decision")
    if decision not in ("approve", "reject"):
        raise ConsoleError(422, "decision: approve or reject")
    try:
        body = approval_routes.Decision.model_validate(
            {"approved": decision == "approve", "reason": fields.get("reason", "")}
        )
        approval_routes.decide(run_id, body, request, _engine(request), visit.principal)
    except ValidationError as exc:
        raise ConsoleError(422, "; ".join(_problems(exc))) from None
    except HTTPException as exc:
        raise _page_not_found(exc) from None
    return RedirectResponse("/approvals", status_code=303)


# --- audit log (admin) --------------------------------------------------------------------------


@router.get("/audit")
def audit_page(request: Request, visit: VisitDep) -> Response:
    """The newest audit entries (admin)."""
    if not visit.principal.has_role("admin"):
        raise ConsoleError(403, "the audit log needs the admin role")
    page = audit_routes.audit_log(_engine(request), visit.principal, limit=100)
    return render(request, "audit.html", visit, page=page)


# --- assets -------------------------------------------------------------------------------------


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """A vendored or own asset; only the files listed in STATIC."""
    from importlib.resources import files

    media_type = STATIC.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (files("alertflow.console") / "static" / name).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


# --- errors -------------------------------------------------------------------------------------


async def show_error(request: Request, exc: Exception) -> Response:
    """A ConsoleError as an HTML page with its status."""
    assert isinstance(exc, ConsoleError)
    html = TEMPLATES.get_template("error.html").render(
        user=None, csrf="", path=request.url.path, status=exc.status, message=exc.message
    )
    return HTMLResponse(html, status_code=exc.status, headers={"Cache-Control": "no-store"})


async def to_sign_in(request: Request, _exc: Exception) -> Response:
    """No session: to the sign-in page (htmx follows HX-Redirect; a post is not replayed)."""
    target = request.url.path if request.method == "GET" else "/"
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    location = "/login?" + urlencode({"next": target})
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)
