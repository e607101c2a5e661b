"""Incidents opened from alerts, and their history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Text
from sqlmodel import Field, SQLModel

from alertmodel.catalog import UTF8MB4
from alertmodel.types import BigId, UTCDateTime, utcnow

INCIDENT_STATES = ("new", "in_progress", "resolved", "closed", "reopened")


class Incident(SQLModel, table=True):
    """An incident opened for an alert; external refs point at the JIRA issue / TheHive case."""

    __tablename__ = "incident"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    alert_uuid: str = Field(max_length=37, index=True, unique=True)
    title: str = Field(default="", max_length=1024)
    state: str = Field(default="new", max_length=32, index=True)
    severity: int = Field(default=0)
    assignee: str | None = Field(default=None, max_length=255)
    jira_key: str | None = Field(default=None, max_length=64)
    thehive_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IncidentEvent(SQLModel, table=True):
    """One change of an incident: who moved it from which state to which, and why."""

    __tablename__ = "incident_event"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    incident_id: int = Field(
        sa_column=Column(BigId, ForeignKey("incident.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=255)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    comment: str = Field(default="", sa_type=Text)
