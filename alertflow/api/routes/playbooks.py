"""`/playbooks`: the deployments on the Prefect server, and "run this playbook for this alert".

The manual run is Alertflex's manual run mode (response.playbook_runs.run_playbook_by_hand):
a flow run of the deployment with the stored alert as `alert`, once per alert, deployment and
user (a repeated POST returns the same run), recorded as a playbook run of the alert so
`GET /alerts/{alert_uuid}/response` shows it with its Prefect UI link.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from alertflow.api import alert_queries, audit
from alertflow.api.alert_schemas import PlaybookRun
from alertflow.api.auth import Analyst, Viewer
from alertflow.api.config_common import check_unicode, field_error
from alertflow.api.deps import EngineDep
from alertflow.api.prefect_access import OUTSIDE_ERRORS, outside_errors, prefect_settings
from alertflow.api.routes.alerts import NOT_FOUND, AlertUuid
from alertflow.api.schemas import Body, text
from alertmodel.errors import ConfigurationError
from response.playbook_runs import (
    RefusedParameters,
    UnknownDeployment,
    list_deployments,
    run_playbook_by_hand,
)

router = APIRouter(tags=["playbooks"])
_NAME_PART = r"[^/%&<>\x00-\x1f\x7f]+"  # what Prefect allows in a flow or deployment name
DEPLOYMENT_NAME = rf"^{_NAME_PART}/{_NAME_PART}$"


class Playbook(BaseModel):
    """A deployment on the Prefect server: what a response profile or a manual run names."""

    name: str = Field(description="flow-name/deployment-name")
    id: str
    description: str
    tags: list[str]
    parameters: dict[str, Any] = Field(description="The deployment's default parameters.")
    parameter_schema: dict[str, Any] = Field(description="JSON schema of the flow's parameters.")
    paused: bool
    takes_alert: bool = Field(
        description="Whether the flow has an `alert` parameter (a manual run needs one)."
    )


class PlaybookRunRequest(Body):
    deployment: text(255, 3) = Field(  # type: ignore[valid-type]
        description="flow-name/deployment-name", pattern=DEPLOYMENT_NAME
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=50,
        description="The run's other parameters, as the deployment's parameter schema says; "
        "`alert` (and `alerts`, `alert_uuid`) come from the stored alert. Left out: the deployment's defaults.",
    )


@router.get("/playbooks", response_model=list[Playbook], responses=OUTSIDE_ERRORS)
async def list_playbooks(request: Request, _viewer: Viewer) -> list[Playbook]:
    """Every deployment on the Prefect server, by name, with its description and parameter schema."""
    from prefect.client.orchestration import get_client  # Prefect loads when a route needs it

    with prefect_settings(request), outside_errors():
        async with get_client() as client:
            found = await list_deployments(client)
    return [
        Playbook.model_validate({**d, "takes_alert": "alert" in d["parameter_schema"].get("properties", {})})
        for d in found
    ]


@router.post(
    "/alerts/{alert_uuid}/playbook-runs",
    response_model=PlaybookRun,
    responses={**NOT_FOUND, **OUTSIDE_ERRORS},
)
async def run_playbook(
    alert_uuid: AlertUuid, body: PlaybookRunRequest, request: Request, engine: EngineDep, analyst: Analyst
) -> PlaybookRun:
    """Run a deployment for this alert now (the alert is its `alert` parameter, `parameters` the
    others); the same alert, deployment and user get the same run back. 422 on `deployment` when
    Prefect has no such deployment or its flow takes no `alert`, on `parameters.<name>` when the
    deployment's schema refuses a parameter."""

    def visible() -> bool:
        with engine.connect() as conn:
            return alert_queries.one_alert(conn, analyst, alert_uuid) is not None

    check_unicode(body.parameters, ("body", "parameters"))
    if not await asyncio.to_thread(visible):
        raise HTTPException(404, f"no alert {alert_uuid}")
    from prefect.client.orchestration import get_client

    with prefect_settings(request), outside_errors():
        try:
            async with get_client() as client:
                run = await run_playbook_by_hand(
                    engine, client, alert_uuid, body.deployment, user=analyst.name, parameters=body.parameters
                )
        except RefusedParameters as exc:
            raise RequestValidationError(
                [
                    {"loc": ("body", "parameters", name), "msg": why, "type": "value_error"}
                    for name, why in exc.problems.items()
                ]
            ) from None
        except (UnknownDeployment, ConfigurationError) as exc:  # no such deployment, or it takes no alert
            raise field_error(("body", "deployment"), str(exc)) from None
    ui = request.app.state.prefect_ui_url
    await asyncio.to_thread(
        audit.record_now,
        engine,
        actor=analyst.name,
        action="playbook.run",
        target=f"alert/{alert_uuid}",
        after={
            "deployment": body.deployment,
            "flow_run_id": run.flow_run_id,
            "profile": run.profile,
            "parameters": body.parameters,
        },
    )
    return PlaybookRun.model_validate(
        {
            **run.model_dump(),
            "ui_url": f"{ui}/runs/flow-run/{run.flow_run_id}" if ui and run.flow_run_id else None,
        }
    )
