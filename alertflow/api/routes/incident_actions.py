"""`/incidents/{id}/notify` and `/incidents/{id}/escalate`: tell a user group, or send to JIRA or TheHive, by hand.

The sending is response.notify's and response.escalate's (what `alertflow incident notify` and
the response profiles use); blocks (SMTP, Slack, Twilio, JIRA, TheHive) come from the app's
Prefect server. An escalation happens once: a second send returns the key stored the first time.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from alertflow.api import audit
from alertflow.api.auth import Analyst
from alertflow.api.config_common import field_error
from alertflow.api.deps import EngineDep
from alertflow.api.incident_schemas import IncidentView
from alertflow.api.prefect_access import OUTSIDE_ERRORS, outside_errors, prefect_settings
from alertflow.api.routes.incidents import CONFLICT, NOT_FOUND, check_visible, incident_view
from alertflow.api.schemas import Body, RowId, text
from alertmodel.errors import IntegrationError, ServiceUnavailableError

router = APIRouter(prefix="/incidents", tags=["incidents"])
BLOCK_NAME = r"^[a-z0-9-]+$"  # what Prefect allows in a block's name
RESPONSES: dict[int | str, dict[str, Any]] = {**NOT_FOUND, **OUTSIDE_ERRORS}


class IncidentNotify(Body):
    group: text(255, 1) = Field(description="The user group to tell.")  # type: ignore[valid-type]
    via: Literal["email", "slack", "twilio"] = "email"
    block: text(255, 1) = Field(  # type: ignore[valid-type]
        default="default",
        pattern=BLOCK_NAME,
        description="The SMTP server, Slack workspace or Twilio account block.",
    )


class IncidentNotified(BaseModel):
    recipients: list[str] = Field(description="Addresses, channel or phone numbers it went to.")
    incident: IncidentView


class IncidentEscalate(Body):
    to: Literal["jira", "thehive"]
    block: text(255, 1) = Field(  # type: ignore[valid-type]
        default="default", pattern=BLOCK_NAME, description="The JIRA site or TheHive server block."
    )
    project: text(64, 1) | None = Field(  # type: ignore[valid-type]
        default=None, description="JIRA project key; default the block's."
    )


class IncidentEscalated(BaseModel):
    to: Literal["jira", "thehive"]
    key: str = Field(description="The JIRA issue key or TheHive alert id.")
    sent: bool = Field(description="False when the incident had it already and nothing was sent.")
    incident: IncidentView


@router.post("/{incident_id}/notify", response_model=IncidentNotified, responses=RESPONSES)
async def notify_incident(
    incident_id: RowId, body: IncidentNotify, request: Request, engine: EngineDep, analyst: Analyst
) -> IncidentNotified:
    """Tell a user group about an incident by e-mail, Slack or SMS (noted in its history); 422 on
    `block` when no such block exists, 422 for an unknown group, 502 when the product refused."""
    from blocks.slack import SlackWorkspace  # blocks load Prefect: only for this route
    from blocks.smtp import SmtpServer
    from blocks.twilio import TwilioAccount
    from response.notify import notify_group

    await asyncio.to_thread(check_visible, engine, analyst, incident_id)
    with prefect_settings(request), outside_errors():
        await _check_block(
            {"email": SmtpServer, "slack": SlackWorkspace, "twilio": TwilioAccount}[body.via], body.block
        )
        recipients = await notify_group(
            engine, incident_id, body.group, via=body.via, actor=analyst.name, block=body.block
        )
    await asyncio.to_thread(
        audit.record_now,
        engine,
        actor=analyst.name,
        action="incident.notify",
        target=f"incident/{incident_id}",
        after={"group": body.group, "via": body.via, "recipients": recipients},
    )
    return IncidentNotified(
        recipients=recipients, incident=await asyncio.to_thread(incident_view, engine, incident_id)
    )


@router.post("/{incident_id}/escalate", response_model=IncidentEscalated, responses={**RESPONSES, **CONFLICT})
async def escalate_incident(
    incident_id: RowId, body: IncidentEscalate, request: Request, engine: EngineDep, analyst: Analyst
) -> IncidentEscalated:
    """Send an incident to JIRA or TheHive, once: when it has the key already, that key is returned
    and nothing is sent (`sent` false). 422 on `block` when no such block exists."""
    from blocks.jira import JiraSite  # blocks load Prefect: only for this route
    from blocks.thehive import TheHiveServer
    from response.escalate import ESCALATION_FIELDS
    from response.escalate import escalate_incident as escalate

    await asyncio.to_thread(check_visible, engine, analyst, incident_id)
    with prefect_settings(request), outside_errors():
        current = await asyncio.to_thread(incident_view, engine, incident_id)
        if not getattr(current, ESCALATION_FIELDS[body.to]):  # sent before: the block is not needed
            await _check_block({"jira": JiraSite, "thehive": TheHiveServer}[body.to], body.block)
        key, sent = await escalate(
            engine, incident_id, body.to, block=body.block, actor=analyst.name, project=body.project
        )
    if sent:
        await asyncio.to_thread(
            audit.record_now,
            engine,
            actor=analyst.name,
            action="incident.escalate",
            target=f"incident/{incident_id}",
            before={"to": body.to, "key": None},
            after={"to": body.to, "key": key},
        )
    view = await asyncio.to_thread(incident_view, engine, incident_id)
    return IncidentEscalated(to=body.to, key=key, sent=sent, incident=view)


async def _check_block(block_type: Any, name: str) -> None:
    """A block the caller names must exist: otherwise a 422 on `block` that says which kind is missing."""
    from blocks.loader import load_block

    try:
        await load_block(block_type, name)
    except IntegrationError as exc:
        if isinstance(exc, ServiceUnavailableError) or not isinstance(exc.__cause__, ValueError):
            raise
        raise field_error(("body", "block"), str(exc)) from None
