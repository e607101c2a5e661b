"""The FastAPI application: routers, limits and the OpenAPI document, around one alert-store engine."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from alertflow import __version__
from alertflow.api.auth import Viewer
from alertflow.api.config_common import GLOBAL_NOTE
from alertflow.api.limits import BodyLimit
from alertflow.api.routes import (
    alerts,
    approvals,
    audit,
    categories,
    category_profiles,
    dashboard,
    dead_letters,
    filter_policies,
    health,
    incident_actions,
    incidents,
    me,
    metrics,
    outbox,
    playbooks,
    response_profiles,
    stix,
    user_groups,
    users,
)
from alertflow.api.schemas import Problem
from alertflow.api.sign_in_limit import SignInLimiter
from alertflow.console import mount as mount_console
from alertflow.console.sessions import IDLE_S as CONSOLE_IDLE_S
from alertflow.up.prefect_address import PrefectAddress

API_PREFIX = "/api/v1"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
_SIGN_IN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid credentials."},
    403: {"model": Problem, "description": "The user's role does not allow this."},
}

_CONFIGURATION_TAGS = [
    {"name": "categories", "description": GLOBAL_NOTE},
    {"name": "category-profiles", "description": GLOBAL_NOTE},
    {"name": "response-profiles", "description": GLOBAL_NOTE},
    {"name": "user-groups", "description": GLOBAL_NOTE + " User groups hold no secrets."},
    {
        "name": "filter-policies",
        "description": "Versions of each collector node's filter policy. A version belongs to the tenant of "
        "its `ref_id`: a tenant-bound viewer sees only its tenants' versions; only an admin bound to no "
        "tenant uploads, activates or rolls back.",
    },
]


def create_app(
    engine: Engine,
    *,
    prefect_ui_url: str | None = None,
    prefect: PrefectAddress | None = None,
    console_idle_s: float = CONSOLE_IDLE_S,
) -> FastAPI:
    """The API (and the console at `/`) on `engine`; `prefect_ui_url` makes playbook runs link to the Prefect UI.

    `prefect` is the server playbooks run on, approvals wait on and blocks (SMTP, Slack, JIRA,
    ...) come from. `console_idle_s`: a console session ends after this long without a request.
    """
    app = FastAPI(
        title="alertflow",
        version=__version__,
        description="Alerts, incidents and their audit trail, from the alertflow alert store. "
        "Every route needs HTTP Basic or a personal token (`Authorization: Bearer`). "
        "Configuration (categories, category profiles, response profiles, user groups, filter policies) "
        "is read by every viewer and changed by an admin bound to no tenant.",
        openapi_tags=_CONFIGURATION_TAGS,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.prefect_ui_url = prefect_ui_url.rstrip("/") if prefect_ui_url else None
    app.state.prefect = prefect
    app.state.sign_ins = SignInLimiter()
    app.add_middleware(BodyLimit)
    app.add_exception_handler(OperationalError, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    routers = (health, alerts, dashboard, incidents, incident_actions, approvals, me, users, audit, metrics)
    operations = (dead_letters, outbox, playbooks)
    configuration = (categories, category_profiles, response_profiles, user_groups, filter_policies)
    for module in (*routers, *configuration, *operations):
        app.include_router(module.router, prefix=API_PREFIX, responses=_SIGN_IN_ERRORS)
    # the STIX-shifter alertflex connector's fixed paths, outside /api/v1
    app.include_router(stix.router, responses=_SIGN_IN_ERRORS)
    mount_console(app, idle_s=console_idle_s)

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi(_principal: Viewer) -> dict[str, Any]:
        """The OpenAPI document, for signed-in callers like everything else."""
        return app.openapi()

    return app


async def _store_unavailable(_request: Request, _exc: Any) -> JSONResponse:
    """The database is down or locked: a 503 the client may retry, never a stack trace."""
    return JSONResponse({"detail": "the alert store is unavailable; retry later"}, status_code=503)


async def _invalid_request(_request: Request, exc: Any) -> Response:
    """422 naming each field; ASCII-escaped, because the echoed input may hold a lone surrogate."""
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, default=str)
    return Response(body, status_code=422, media_type="application/json")
