"""Collector nodes, alert categories and category profiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from alertmodel.types import BigId, UTCDateTime, utcnow

UTF8MB4 = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


class Node(SQLModel, table=True):
    """A collector node (Alertflex: the Altprobe host alerts come from)."""

    __tablename__ = "node"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=255, unique=True)
    ref_id: str = Field(default="indef", max_length=255)
    description: str = Field(default="", max_length=1024)


class Category(SQLModel, table=True):
    """A category seen on an alert of one source type, registered on first sight."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("source_type", "name", name="uq_category_source_name"), UTF8MB4)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=512)
    source_type: str = Field(max_length=32)
    description: str = Field(default="", max_length=1024)
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CategoryProfile(SQLModel, table=True):
    """A named group of categories of one source type; ["*"] means all of them."""

    __tablename__ = "category_profile"
    __table_args__ = (UTF8MB4,)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(max_length=255, unique=True)
    source_type: str = Field(max_length=32)
    categories: list[str] = Field(default_factory=lambda: ["*"], sa_column=Column(JSON, nullable=False))
