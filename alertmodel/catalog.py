"""Collector nodes, alert categories and category profiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    UniqueConstraint,
    and_,
    false,
    func,
    or_,
    select,
    true,
)
from sqlmodel import Field, SQLModel

from alertmodel.alert import Alert
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


class UnknownProfileError(LookupError):
    """A categories profile named by a filter does not exist."""


def in_category_profile(conn: Connection, name: str) -> ColumnElement[bool]:
    """Alerts of the profile's source type carrying any of its categories (UnknownProfileError if none).

    An alert's `category` holds its categories joined by ", ", so a category matches as the
    whole value, or as its first, last or a middle element; `*` takes every category.
    """
    profiles = CategoryProfile.__table__
    c = Alert.__table__.c
    row = conn.execute(
        select(profiles.c.source_type, profiles.c.categories).where(profiles.c.name == name)
    ).first()
    if row is None:
        raise UnknownProfileError(name)
    source = true() if row.source_type == "*" else func.lower(c.source) == row.source_type.lower()
    names = [str(n) for n in row.categories]
    if "*" in names:
        return source
    matches = []
    for category in names:
        matches += [
            c.category == category,
            c.category.startswith(category + ", ", autoescape=True),
            c.category.endswith(", " + category, autoescape=True),
            c.category.contains(", " + category + ", ", autoescape=True),
        ]
    return and_(source, or_(*matches)) if matches else false()
