"""Tables of the response half: profiles, the outbox, playbook runs, rate and group state, user groups."""

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
    group_lead: str | None = Field(
        default=None,
        max_length=37,
        index=True,
        description="alert_uuid of the group's first alert when the profile fires per group; "
        "the run was created for that alert and this one was recorded against it.",
    )
    rerun_of: str | None = Field(
        default=None,
        max_length=36,
        description="Flow run id of the Crashed run this row's flow run repeats (a playbook declared "
        "safe to repeat is run again once after a crash).",
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ResponseRate(SQLModel, table=True):
    """Rate-limit state of one profile and key: a fixed window opened by its first firing.

    Kept in the database, written in the ingest batch transaction, so a restart or a
    second worker sees the same count.
    """

    __tablename__ = "response_rate"
    __table_args__ = (UniqueConstraint("profile", "rate_key", name="uq_response_rate_profile_key"), UTF8MB4)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    profile: str = Field(max_length=255)
    rate_key: str = Field(max_length=255)
    window_start: datetime = Field(sa_type=UTCDateTime)
    count: int = Field(default=0)


class ResponseGroup(SQLModel, table=True):
    """The open group of one profile and group key: its first alert fired, later ones join it."""

    __tablename__ = "response_group"
    __table_args__ = (
        UniqueConstraint("profile", "group_key", name="uq_response_group_profile_key"),
        UTF8MB4,
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    profile: str = Field(max_length=255)
    group_key: str = Field(max_length=255)
    lead_alert_uuid: str = Field(max_length=37)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    alert_count: int = Field(default=1)


class UserGroup(SQLModel, table=True):
    """A group of people notified by response profiles and incidents (Alertflex user groups)."""

    __tablename__ = "user_group"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=255, unique=True)
    emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    phones: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    slack_channel: str | None = Field(default=None, max_length=255)
