"""Response profiles, the transactional outbox and the playbook runs they start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from alertmodel.catalog import UTF8MB4
from alertmodel.types import BigId, UTCDateTime, utcnow

OUTBOX_STATES = ("pending", "done", "failed")


class ResponseProfile(SQLModel, table=True):
    """What to do when an alert matches: criteria and actions as in DESIGN.md "Response profiles"."""

    __tablename__ = "response_profile"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=255, unique=True)
    enabled: bool = Field(default=True)
    criteria: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Outbox(SQLModel, table=True):
    """One side effect to perform after the alert that caused it committed (transactional outbox).

    `key` is unique, so the same action for the same alert is written once however often
    the alert is redelivered.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"), UTF8MB4)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=64)
    key: str = Field(max_length=255, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlaybookRun(SQLModel, table=True):
    """A Prefect flow run started for an alert by a response profile."""

    __tablename__ = "playbook_run"
    __table_args__ = (
        UniqueConstraint("alert_uuid", "profile", name="uq_playbook_run_alert_profile"),
        UTF8MB4,
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    alert_uuid: str = Field(max_length=37, index=True)
    profile: str = Field(max_length=255)
    deployment: str = Field(max_length=255)
    flow_run_id: str | None = Field(default=None, max_length=36, index=True)
    state: str = Field(default="pending", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
