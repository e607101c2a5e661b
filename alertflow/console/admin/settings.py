"""A user's own settings page (Alertflex's "profile for user"): stored in the alert store, used by the dashboard."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from alertflow.api import audit
from alertflow.console.pages import ConsoleError, FormDep, VisitDep, _checked, _engine, render
from alertmodel.user_settings import DASHBOARD_WINDOWS, Settings, read_settings, write_settings

router = APIRouter(include_in_schema=False)


@router.get("/settings")
def settings_page(request: Request, visit: VisitDep) -> Response:
    """The signed-in user's settings."""
    with _engine(request).connect() as conn:
        settings = read_settings(conn, visit.principal.name)
    return render(
        request,
        "admin/settings.html",
        visit,
        settings=settings,
        windows=DASHBOARD_WINDOWS,
        saved=request.query_params.get("saved") == "1",
    )


@router.post("/settings")
def save_settings(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """Save the signed-in user's settings (every role may change their own)."""
    _checked(visit, fields, "viewer")
    window = fields.get("dashboard_window", "")
    if window not in DASHBOARD_WINDOWS:
        raise ConsoleError(422, f"dashboard_window must be one of {', '.join(DASHBOARD_WINDOWS)}")
    settings = Settings(dashboard_window=window)
    name = visit.principal.name
    with _engine(request).begin() as conn:
        before = write_settings(conn, name, settings)
        if before is None:
            raise ConsoleError(404, "your user no longer exists")
        audit.record(
            conn,
            actor=name,
            action="user.settings",
            target=f"user/{name}",
            before=asdict(before),
            after=asdict(settings),
        )
    return RedirectResponse("/settings?saved=1", status_code=303)
