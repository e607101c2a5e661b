"""What the ingest side keeps besides alerts: filter policy versions and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from alertmodel.catalog import UTF8MB4
from alertmodel.types import BigId, RawBytes, UTCDateTime, utcnow


class FilterPolicy(SQLModel, table=True):
    """One version of a node's Alertflex filter policy (`filters.json`); one version is active."""

    __tablename__ = "filter_policy"
    __table_args__ = (UniqueConstraint("node", "version", name="uq_filter_policy_node_version"), UTF8MB4)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    node: str = Field(max_length=255, index=True)
    version: int
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    active: bool = Field(default=False)


class DeadLetter(SQLModel, table=True):
    """Input that could not be decoded or mapped, kept byte for byte with the reason."""

    __tablename__ = "dead_letter"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    source: str = Field(max_length=64)
    origin: str = Field(default="", max_length=1024, description="File path, queue or endpoint it came from.")
    raw: bytes = Field(sa_type=RawBytes)
    reason: str = Field(max_length=1024)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
