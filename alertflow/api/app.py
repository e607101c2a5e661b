"""The FastAPI application: routers, limits and the OpenAPI document, around one alert-store engine."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from alertflow import __version__
from alertflow.api.auth import Viewer
from alertflow.api.limits import BodyLimit
from alertflow.api.routes import alerts, audit, health, me, users
from alertflow.api.schemas import Problem

API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
_SIGN_IN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid credentials."},
    403: {"model": Problem, "description": "The user's role does not allow this."},
}


def create_app(engine: Engine, *, prefect_ui_url: str | None = None) -> FastAPI:
    """The API on `engine`; `prefect_ui_url` makes playbook runs link to the Prefect UI."""
    app = FastAPI(
        title="alertflow",
        version=__version__,
        description="Alerts, incidents and their audit trail, from the alertflow alert store. "
        "Every route needs HTTP Basic or a personal token (`Authorization: Bearer`).",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.prefect_ui_url = prefect_ui_url.rstrip("/") if prefect_ui_url else None
    app.add_middleware(BodyLimit)
    app.add_exception_handler(OperationalError, _store_unavailable)
    for module in (health, alerts, me, users, audit):
        app.include_router(module.router, prefix=API_PREFIX, responses=_SIGN_IN_ERRORS)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi(_principal: Viewer) -> dict[str, Any]:
        """The OpenAPI document, for signed-in callers like everything else."""
        return app.openapi()

    return app


async def _store_unavailable(_request: Request, _exc: Any) -> JSONResponse:
    """The database is down or locked: a 503 the client may retry, never a stack trace."""
    return JSONResponse({"detail": "the alert store is unavailable; retry later"}, status_code=503)
