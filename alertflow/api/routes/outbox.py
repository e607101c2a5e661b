"""`/outbox`: the response actions waiting, done or failed, and a retry of a failed one.

A row belongs to the tenant of the alert that fired it (`payload.alert_uuid`); a tenant-bound
principal sees only its tenants' rows, and another tenant's row is a 404. The retry is
response.dispatcher's (`alertflow outbox retry`): the row is due again with a fresh attempt count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, Select, exists, func, select

from alertflow.api import audit
from alertflow.api.accounts import Principal
from alertflow.api.auth import Analyst, Viewer, tenant_filter
from alertflow.api.cursor import decode_cursor, encode_cursor
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import Problem, RowId
from alertmodel import Alert as AlertRow
from alertmodel import Outbox as OutboxRow
from alertmodel.types import utcnow
from response.dispatcher import retry_failed

router = APIRouter(prefix="/outbox", tags=["outbox"])
_OUTBOX = OutboxRow.__table__
_ALERTS = AlertRow.__table__
_ALERT_UUID = _OUTBOX.c.payload["alert_uuid"].as_string()
OutboxState = Literal["pending", "done", "failed"]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such outbox row (for you)."}
}


class OutboxEntry(BaseModel):
    """One response action of one alert."""

    id: int
    kind: str = Field(description="playbook, incident, email, slack, twilio, thehive or jira.")
    key: str = Field(description="alert_uuid:profile:action index; unique.")
    state: OutboxState
    alert_uuid: str | None
    profile: str | None
    attempts: int
    next_attempt_at: datetime = Field(description="When a pending row is due (or its lease runs out).")
    due: bool = Field(description="Pending and due now.")
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class OutboxPage(BaseModel):
    items: list[OutboxEntry]
    counts: dict[str, int] = Field(description="Rows (visible to the caller) in each state.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


@router.get("", response_model=OutboxPage)
def list_outbox(
    engine: EngineDep,
    principal: Viewer,
    state: OutboxState | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    alert_uuid: Annotated[str | None, Query(max_length=37)] = None,
    due: Annotated[bool | None, Query(description="true: pending and due now; false: the others.")] = None,
    min_attempts: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> OutboxPage:
    """Outbox rows, newest first, filtered by state, kind, alert, due and attempts; keyset pages."""
    now = utcnow()
    is_due = (_OUTBOX.c.state == "pending") & (_OUTBOX.c.next_attempt_at <= now)
    query: Select[Any] = select(_OUTBOX).where(_visible(principal)).order_by(_OUTBOX.c.id.desc())
    if state is not None:
        query = query.where(_OUTBOX.c.state == state)
    if kind is not None:
        query = query.where(_OUTBOX.c.kind == kind)
    if alert_uuid is not None:
        query = query.where(alert_uuid == _ALERT_UUID)
    if due is not None:
        query = query.where(is_due if due else ~is_due)
    if min_attempts is not None:
        query = query.where(_OUTBOX.c.attempts >= min_attempts)
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, (int,))
        query = query.where(_OUTBOX.c.id < last_id)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
        counts = _counts(conn, principal)
    page = [_entry(dict(r._mapping), now) for r in rows[:limit]]
    return OutboxPage(
        items=page, counts=counts, next_cursor=encode_cursor([page[-1].id]) if len(rows) > limit else None
    )


@router.get("/{outbox_id}", response_model=OutboxEntry, responses=NOT_FOUND)
def get_outbox_row(outbox_id: RowId, engine: EngineDep, principal: Viewer) -> OutboxEntry:
    """One outbox row."""
    with engine.connect() as conn:
        return _entry(_row(conn, principal, outbox_id), utcnow())


@router.post(
    "/{outbox_id}/retry",
    response_model=OutboxEntry,
    responses={**NOT_FOUND, 409: {"model": Problem, "description": "Only a failed row is retried."}},
)
def retry_outbox_row(outbox_id: RowId, engine: EngineDep, analyst: Analyst) -> OutboxEntry:
    """Make a failed row due again with a fresh attempt count (the dispatcher performs it); 409 otherwise."""
    with engine.connect() as conn:
        before = _row(conn, analyst, outbox_id)
    if retry_failed(engine, [outbox_id]) != 1:
        raise HTTPException(409, f"outbox row {outbox_id} is {before['state']}, not failed")
    with engine.connect() as conn:
        after = _entry(_row(conn, analyst, outbox_id), utcnow())
    audit.record_now(
        engine,
        actor=analyst.name,
        action="outbox.retry",
        target=f"outbox/{outbox_id}",
        before={"state": before["state"], "attempts": before["attempts"], "last_error": before["last_error"]},
        after={"state": after.state, "attempts": after.attempts},
    )
    return after


def _visible(principal: Principal) -> ColumnElement[bool]:
    """The rows whose alert is one of the principal's tenants' (every row for a principal bound to none)."""
    if not principal.tenants:
        return tenant_filter(principal, _ALERTS.c.ref_id)
    return exists().where(_ALERTS.c.alert_uuid == _ALERT_UUID, tenant_filter(principal, _ALERTS.c.ref_id))


def _row(conn: Connection, principal: Principal, outbox_id: int) -> dict[str, Any]:
    row = conn.execute(select(_OUTBOX).where(_OUTBOX.c.id == outbox_id, _visible(principal))).first()
    if row is None:
        raise HTTPException(404, f"no outbox row {outbox_id}")
    return dict(row._mapping)


def _counts(conn: Connection, principal: Principal) -> dict[str, int]:
    query = select(_OUTBOX.c.state, func.count()).where(_visible(principal)).group_by(_OUTBOX.c.state)
    return {state: int(n) for state, n in conn.execute(query)}


def _entry(row: dict[str, Any], now: datetime) -> OutboxEntry:
    payload = row.pop("payload") or {}
    alert_uuid, profile = payload.get("alert_uuid"), payload.get("profile")
    return OutboxEntry.model_validate(
        {
            **row,
            "alert_uuid": alert_uuid if isinstance(alert_uuid, str) else None,
            "profile": profile if isinstance(profile, str) else None,
            "due": row["state"] == "pending" and row["next_attempt_at"] <= now,
        }
    )
