"""API users, their personal tokens, and the audit log of every write made through the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, JSON, Column, ForeignKey
from sqlmodel import Field, SQLModel

from alertmodel.catalog import UTF8MB4
from alertmodel.types import BigId, UTCDateTime, utcnow

ROLES = ("viewer", "analyst", "admin")
"""Each role can do what the ones before it can: read; + incidents and playbooks; + configuration and users."""


class ApiUser(SQLModel, table=True):
    """A person or tool that signs in to the API; `tenants` lists the `ref_id`s it sees (empty = all)."""

    __tablename__ = "api_user"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    tenants: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    password_hash: str = Field(max_length=255)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A personal API token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_token"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    user_id: int = Field(
        sa_column=Column(BigId, ForeignKey("api_user.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    name: str = Field(default="", max_length=255)
    token_sha256: str = Field(sa_type=CHAR(64), max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One write: who did what to which object, with the object before and after (JSON, no secrets)."""

    __tablename__ = "audit_log"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=255, index=True)
    action: str = Field(max_length=64)
    target: str = Field(max_length=255)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
