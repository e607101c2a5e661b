"""What forwarding keeps in the alert store: one cursor per forwarder, the alerts after it, its dead letters.

A forwarder reads the alerts stored after its cursor (alert_id order, a bounded batch), sends
them, and only then moves the cursor past them: a crash between the two sends a batch again
(at-least-once; receivers that take a document id get the alert's uuid, so a resend overwrites).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    String,
    func,
    select,
)
from sqlmodel import Field, SQLModel

from alertmodel.alert import Alert, AlertRead
from alertmodel.catalog import UTF8MB4, in_category_profile
from alertmodel.intake import DeadLetter, dead_letter_key
from alertmodel.repository import insert_ignoring_duplicates
from alertmodel.types import UTCDateTime, utcnow

ALERTS = Alert.__table__


class ForwarderCursor(SQLModel, table=True):
    """How far a forwarder has sent: the id of the last alert it delivered (or set aside)."""

    __tablename__ = "forwarder_cursor"
    __table_args__ = (UTF8MB4,)

    name: str = Field(
        sa_column=Column(String(255), primary_key=True), description="The forwarder block's name."
    )
    last_alert_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


CURSORS = ForwarderCursor.__table__


def read_cursor(conn: Connection, name: str) -> int:
    """The last alert id `name` sent; 0 for a forwarder that never ran."""
    value = conn.execute(select(CURSORS.c.last_alert_id).where(CURSORS.c.name == name)).scalar()
    return int(value or 0)


def start_cursor_at_end(conn: Connection, name: str) -> int:
    """Create the cursor of a new forwarder at the newest stored alert (a new forwarder does not replay history)."""
    newest = int(conn.execute(select(func.coalesce(func.max(ALERTS.c.alert_id), 0))).scalar_one())
    insert_ignoring_duplicates(
        conn, CURSORS, [{"name": name, "last_alert_id": newest, "updated": utcnow()}], ("name",)
    )
    return read_cursor(conn, name)


def advance_cursor(conn: Connection, name: str, last_alert_id: int) -> None:
    """Move `name`'s cursor to `last_alert_id` (never backwards), creating it if needed."""
    now = utcnow()
    insert_ignoring_duplicates(conn, CURSORS, [{"name": name, "last_alert_id": 0, "updated": now}], ("name",))
    conn.execute(
        CURSORS.update()
        .where(CURSORS.c.name == name, CURSORS.c.last_alert_id < last_alert_id)
        .values(last_alert_id=last_alert_id, updated=now)
    )


def newest_alert_id(conn: Connection) -> int:
    """The highest stored alert id (0 when there is none)."""
    return int(conn.execute(select(func.coalesce(func.max(ALERTS.c.alert_id), 0))).scalar_one())


def oldest_after(conn: Connection, after: int) -> float | None:
    """When the first alert stored after id `after` was collected (epoch seconds); None when there is none."""
    collected = conn.execute(
        select(ALERTS.c.time_collr).where(ALERTS.c.alert_id > after).order_by(ALERTS.c.alert_id).limit(1)
    ).scalar()
    return None if collected is None else float(collected.timestamp())


def alerts_after(
    conn: Connection, after: int, limit: int, clauses: Sequence[ColumnElement[bool]] = ()
) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` stored alerts with alert_id > `after` that match `clauses`, and the id read up to.

    The id read up to is the last id scanned, matched or not: a window of `limit` ids is scanned
    at a time, so a filter that matches little never makes a forwarder read the whole table.

    This assumes ids become visible in id order, as they do with one writer per store (SQLite
    always; MariaDB with one ingest worker). Two workers committing to one MariaDB store at once
    could make a lower id visible after a higher one was read, and the cursor would pass it.
    """
    top = newest_alert_id(conn)
    if top <= after:
        return [], after
    upto = min(top, after + limit)
    query = (
        select(ALERTS)
        .where(ALERTS.c.alert_id > after, ALERTS.c.alert_id <= upto, *clauses)
        .order_by(ALERTS.c.alert_id)
    )
    result = conn.execute(query)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()], upto


def stored_alert(row: dict[str, Any]) -> AlertRead:
    """An AlertRead over a stored row as read, without validating it again (the store already did).

    pydantic's `model_construct` costs ~10x more per alert, and a forwarder builds one per alert.
    """
    alert = object.__new__(AlertRead)
    object.__setattr__(alert, "__dict__", row)
    object.__setattr__(alert, "__pydantic_fields_set__", set(row))
    object.__setattr__(alert, "__pydantic_extra__", None)
    object.__setattr__(alert, "__pydantic_private__", None)
    return alert


def forward_filter(
    conn: Connection, min_severity: int, sources: Sequence[str], profile: str | None
) -> list[ColumnElement[bool]]:
    """WHERE clauses of a forwarder's filter: severity at least `min_severity`, one of `sources`, in `profile`."""
    clauses: list[ColumnElement[bool]] = []
    if min_severity > 0:
        clauses.append(ALERTS.c.severity >= min_severity)
    if sources:
        clauses.append(func.lower(ALERTS.c.source).in_([s.lower() for s in sources]))
    if profile:
        clauses.append(in_category_profile(conn, profile))
    return clauses


def dead_letter_forward(conn: Connection, forwarder: str, origin: str, document: bytes, reason: str) -> None:
    """Keep a document a receiver refused, with its reason, as a dead letter of source `forward:<name>`."""
    source = ("forward:" + forwarder)[:64]
    insert_ignoring_duplicates(
        conn,
        DeadLetter.__table__,
        [
            {
                "source": source,
                "origin": origin[:1024],
                "raw": document,
                "reason": reason[:1024],
                "content_key": dead_letter_key(source, document),
                "received_at": utcnow(),
            }
        ],
        ("content_key",),
    )
