"""Incidents in the API: one incident, its history, a page, and the bodies that open and move them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alertflow.api.schemas import Body, text
from alertflow.api.timeparam import IsoDateTime

IncidentState = Literal["new", "in_progress", "resolved", "closed", "reopened"]


class Incident(BaseModel):
    id: int
    alert_uuid: str
    title: str
    state: IncidentState
    severity: int
    assignee: str | None
    jira_key: str | None
    thehive_id: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class IncidentChange(BaseModel):
    """One entry of an incident's history."""

    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    comment: str


class IncidentView(Incident):
    """An incident with its history, oldest change first."""

    history: list[IncidentChange]


class IncidentPage(BaseModel):
    items: list[Incident]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class IncidentStats(BaseModel):
    """How many incidents (visible to the caller) are in each state."""

    by_state: dict[str, int]
    total: int


class IncidentSearch(BaseModel):
    """Filters of `GET /incidents`, newest first."""

    model_config = ConfigDict(extra="forbid")

    state: list[IncidentState] | None = Field(default=None, max_length=5)
    min_severity: int | None = Field(default=None, ge=0, le=3)
    assignee: str | None = Field(default=None, max_length=255)
    since: IsoDateTime | None = Field(default=None, description="Created at or after (naive = UTC).")
    alert_uuid: str | None = Field(default=None, max_length=37)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)


class IncidentOpen(Body):
    alert_uuid: text(37, 1)  # type: ignore[valid-type]
    comment: text(4000) = ""  # type: ignore[valid-type]
    assignee: text(255, 1) | None = None  # type: ignore[valid-type]


class IncidentStateChange(Body):
    state: Literal["in_progress", "resolved", "closed", "reopened"]
    comment: text(4000) = ""  # type: ignore[valid-type]


class IncidentNote(Body):
    comment: text(4000, 1)  # type: ignore[valid-type]
