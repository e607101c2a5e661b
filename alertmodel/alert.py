"""The alert record: the Alertflex `alert` table, field for field, plus hashes, proto and url."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, Column, Index, Integer
from sqlmodel import Field, SQLModel

from alertmodel.types import BigId, LongText, UTCDateTime

INDEF = "indef"
"""Alertflex's word for an unknown string value."""

SEVERITY_NAMES = {0: "Info", 1: "Minor", 2: "Major", 3: "Critical"}
ALERT_TYPES = ("HOST", "FILE", "NET", "MISC")
ALERT_STATUSES = ("processed", "modified", "aggregated", "incident")

ALERT_FIELD_WIDTHS: dict[str, int] = {
    "alert_uuid": 37,
    "node_id": 255,
    "ref_id": 255,
    "source": 32,
    "type": 32,
    "event": 512,
    "category": 1024,
    "description": 1024,
    "srcip": 128,
    "dstip": 128,
    "srcagent": 128,
    "dstagent": 128,
    "user": 512,
    "process": 512,
    "file": 512,
    "agent": 512,
    "container": 512,
    "sensor": 512,
    "location": 1024,
    "status": 32,
    "action": 256,
    "filter": 512,
    "info": 1024,
    "time_event": 512,
    "hash_md5": 32,
    "hash_sha1": 40,
    "hash_sha256": 64,
    "proto": 32,
    "url": 1024,
}
"""VARCHAR widths in characters, as in Alertflex; normalizers truncate to these."""


def _text(name: str, *, index: bool = False) -> Any:
    return Field(default=INDEF, max_length=ALERT_FIELD_WIDTHS[name], index=index)


class AlertBase(SQLModel):
    """The fields every alert carries, in Alertflex order."""

    alert_uuid: str = Field(sa_type=CHAR(37), max_length=37, unique=True)
    node_id: str = _text("node_id", index=True)
    ref_id: str = _text("ref_id")
    source: str = _text("source")
    type: str = _text("type")
    event: str = _text("event")
    severity: int = Field(default=0, sa_type=Integer)
    score: int = Field(default=0, sa_type=Integer)
    category: str = _text("category")
    description: str = _text("description")
    srcip: str = _text("srcip")
    dstip: str = _text("dstip")
    srcagent: str = _text("srcagent")
    dstagent: str = _text("dstagent")
    srcport: int = Field(default=0, sa_type=Integer)
    dstport: int = Field(default=0, sa_type=Integer)
    user: str = _text("user")
    process: str = _text("process")
    file: str = _text("file")
    agent: str = _text("agent")
    container: str = _text("container")
    sensor: str = _text("sensor")
    location: str = _text("location")
    status: str = Field(default="processed", max_length=32, index=True)
    action: str = _text("action")
    filter: str = _text("filter")
    info: str = _text("info")
    time_event: str = _text("time_event")
    time_collr: datetime = Field(sa_type=UTCDateTime, index=True)
    time_cntrl: datetime | None = Field(default=None, sa_type=UTCDateTime)
    json_event: str = Field(default="", sa_type=LongText)
    hash_md5: str = _text("hash_md5")
    hash_sha1: str = _text("hash_sha1")
    hash_sha256: str = _text("hash_sha256")
    proto: str = _text("proto")
    url: str = _text("url")


class Alert(AlertBase, table=True):
    """One stored alert; `alert_uuid` is deterministic, so a redelivered event is stored once."""

    __tablename__ = "alert"
    # A search filters on one field and shows the newest first: each index ends in time_collr,
    # so the first page is read in index order instead of sorting every match. MariaDB keys
    # stop at 3072 bytes, so category (1024 utf8mb4 characters) is indexed by its first 255.
    __table_args__ = (
        Index("ix_alert_source_event_time", "source", "event", "time_collr"),
        Index("ix_alert_srcip_time", "srcip", "time_collr"),
        Index("ix_alert_dstip_time", "dstip", "time_collr"),
        Index("ix_alert_severity_time", "severity", "time_collr"),
        Index("ix_alert_agent_time", "agent", "time_collr"),
        Index("ix_alert_ref_id_time", "ref_id", "time_collr"),
        Index("ix_alert_category_time", "category", "time_collr", mysql_length={"category": 255}),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"},
    )

    alert_id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))


class AlertRead(AlertBase):
    """An alert as the API and CLI show it."""

    alert_id: int


ALERT_COLUMNS: tuple[str, ...] = tuple(c.name for c in Alert.__table__.columns if c.name != "alert_id")
"""Insertable columns, in table order (what a batch insert binds)."""
