"""The FastAPI application: routers, limits and the OpenAPI document, around one alert-store engine."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from alertflow import __version__
from alertflow.api.limits import BodyLimit
from alertflow.api.routes import health

API_PREFIX = "/api/v1"


def create_app(engine: Engine, *, prefect_ui_url: str | None = None) -> FastAPI:
    """The API on `engine`; `prefect_ui_url` makes playbook runs link to the Prefect UI."""
    app = FastAPI(
        title="alertflow",
        version=__version__,
        description="Alerts, incidents and their audit trail, from the alertflow alert store.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.prefect_ui_url = prefect_ui_url.rstrip("/") if prefect_ui_url else None
    app.add_middleware(BodyLimit)
    app.add_exception_handler(OperationalError, _store_unavailable)
    app.include_router(health.router, prefix=API_PREFIX)
    return app


async def _store_unavailable(_request: Request, _exc: Any) -> JSONResponse:
    """The database is down or locked: a 503 the client may retry, never a stack trace."""
    return JSONResponse({"detail": "the alert store is unavailable; retry later"}, status_code=503)
