"""What the ingest side keeps besides alerts: filter policy versions, dead letters, source checkpoints."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, JSON, BigInteger, Column, UniqueConstraint
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


def dead_letter_key(source: str, raw: bytes) -> str:
    """The content key of a dead letter: sha256 of its source and the bytes that arrived.

    Where and why it arrived are left out: a STOMP redelivery has the same message but another
    delivery, and an HTTP retry another client port, and both must be stored once. So two
    identical bad lines anywhere are one dead letter (the first origin and reason are kept):
    the row is there to show what could not be read, and a copy adds nothing to that.
    """
    return hashlib.sha256(source.encode() + b"\0" + raw).hexdigest()


class DeadLetter(SQLModel, table=True):
    """Input that could not be decoded or mapped, kept byte for byte with the reason, once per content."""

    __tablename__ = "dead_letter"
    __table_args__ = (UniqueConstraint("content_key", name="uq_dead_letter_content_key"), UTF8MB4)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    source: str = Field(max_length=64)
    origin: str = Field(default="", max_length=1024, description="File path, queue or endpoint it came from.")
    raw: bytes = Field(sa_type=RawBytes)
    reason: str = Field(max_length=1024)
    content_key: str = Field(sa_column=Column(CHAR(64), nullable=False), description="dead_letter_key()")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    reingested_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTime,
        description="When it was stored again after a fix (kept, not deleted).",
    )
    reingested_by: str | None = Field(default=None, max_length=255, description="Who re-ingested it.")
    reingested_alerts: list[str] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="alert_uuids the re-ingest produced (empty when the policy dropped the event).",
    )


class SourceCheckpoint(SQLModel, table=True):
    """How far a file source has been stored: file identity and the byte offset after the last stored line.

    Written in the same transaction as the batch it covers, so it never runs ahead of the data.
    """

    __tablename__ = "checkpoint"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    source_key: str = Field(max_length=512, unique=True, description="e.g. file:/var/log/suricata/eve.json")
    device: int = Field(sa_type=BigInteger)
    inode: int = Field(sa_type=BigInteger)
    offset: int = Field(sa_type=BigInteger)
    updated: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
