"""`/dead-letters`: input ingest could not read, kept byte for byte with the reason; re-ingest after a fix.

A dead letter has no tenant (its `ref_id` would have come from the event it failed to be), so
only a principal bound to no tenant sees them: a tenant-bound one gets an empty list and 404.
Re-ingesting runs the bytes (or corrected ones) through the worker's own path
(`ingest.reingest`): decode, normalize, the node's active policy, the batch writer and the
response profiles; the dead letter is kept and marked, and its alerts are stored once.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Engine, Select, false, func, select, true

from alertflow.api import audit
from alertflow.api.accounts import Principal
from alertflow.api.auth import Admin, Viewer
from alertflow.api.config_common import field_error
from alertflow.api.cursor import decode_cursor, encode_cursor
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import Body, Problem, RowId, text
from alertflow.api.timeparam import IsoDateTime, as_utc
from alertmodel import DeadLetter as DeadLetterRow
from alertmodel.settings import get_settings
from ingest.reingest import ReingestRefused, reingest_dead_letter
from ingest.store import StoredSizes
from response.outbox_writer import ResponseHook

router = APIRouter(prefix="/dead-letters", tags=["dead-letters"])
_DEAD = DeadLetterRow.__table__
_LIST_COLUMNS = [c for c in _DEAD.c if c.name != "raw"]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such dead letter (for you)."}
}


class DeadLetter(BaseModel):
    """A dead letter without its bytes."""

    id: int
    source: str
    origin: str
    reason: str
    received_at: datetime
    size: int = Field(description="Bytes kept (a longer input was cut and says so at its end).")
    reingested_at: datetime | None
    reingested_by: str | None
    reingested_alerts: list[str] | None = Field(description="alert_uuids its re-ingest produced.")


class DeadLetterView(DeadLetter):
    """A dead letter with the bytes that arrived."""

    raw_base64: str = Field(description="The bytes, base64.")
    raw_text: str | None = Field(description="The bytes as UTF-8 text; null when they are not UTF-8.")


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class DeadLetterReingest(Body):
    """Re-ingest a dead letter as a node's worker would, optionally with corrected content."""

    node: text(255, 1) | None = Field(  # type: ignore[valid-type]
        default=None, description="Collector node whose active policy applies; default ALERTFLOW_NODE."
    )
    content: text(10 * 1024 * 1024, 1) | None = Field(  # type: ignore[valid-type]
        default=None, description="Corrected event text (one JSON line) to store instead of the bytes kept."
    )
    content_base64: text(14 * 1024 * 1024, 1) | None = Field(  # type: ignore[valid-type]
        default=None, description="Corrected event bytes, base64 (instead of `content`)."
    )


class DeadLetterReingested(BaseModel):
    """What the re-ingest stored; the dead letter is kept, marked."""

    dead_letter: DeadLetter
    alert_uuids: list[str] = Field(description="Alerts it produced (none when the policy dropped it).")
    stored: int = Field(description="Alerts stored now.")
    duplicates: int = Field(description="Alerts that were stored already.")
    counts: dict[str, int] = Field(description="The ingest core's counts (read, emitted, dropped_*).")


@router.get("", response_model=DeadLetterPage)
def list_dead_letters(
    engine: EngineDep,
    principal: Viewer,
    source: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[str | None, Query(max_length=255, description="Text the reason contains.")] = None,
    since: Annotated[IsoDateTime | None, Query(description="Received at or after (naive = UTC).")] = None,
    until: Annotated[IsoDateTime | None, Query(description="Received before (naive = UTC).")] = None,
    reingested: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeadLetterPage:
    """Dead letters, newest first, filtered by source, reason, time and whether re-ingested; keyset pages."""
    query: Select[Any] = select(*_LIST_COLUMNS, _size()).order_by(_DEAD.c.id.desc()).limit(limit + 1)
    query = query.where(_visible(principal))
    if source is not None:
        query = query.where(_DEAD.c.source == source)
    if reason is not None:
        query = query.where(_DEAD.c.reason.contains(reason, autoescape=True))
    if since is not None:
        query = query.where(_DEAD.c.received_at >= as_utc(since, "since"))
    if until is not None:
        query = query.where(_DEAD.c.received_at < as_utc(until, "until"))
    if reingested is not None:
        column = _DEAD.c.reingested_at
        query = query.where(column.is_not(None) if reingested else column.is_(None))
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, (int,))
        query = query.where(_DEAD.c.id < last_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    page = [DeadLetter.model_validate(dict(r._mapping)) for r in rows[:limit]]
    return DeadLetterPage(items=page, next_cursor=encode_cursor([page[-1].id]) if len(rows) > limit else None)


@router.get("/{dead_letter_id}", response_model=DeadLetterView, responses=NOT_FOUND)
def get_dead_letter(dead_letter_id: RowId, engine: EngineDep, principal: Viewer) -> DeadLetterView:
    """One dead letter with its bytes (base64, and as text when they are UTF-8) and why it was set aside."""
    row = _row(engine, principal, dead_letter_id)
    raw: bytes = row.pop("raw")
    try:
        as_text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        as_text = None
    return DeadLetterView.model_validate(
        {**row, "size": len(raw), "raw_base64": base64.b64encode(raw).decode(), "raw_text": as_text}
    )


@router.post(
    "/{dead_letter_id}/reingest",
    response_model=DeadLetterReingested,
    responses={
        **NOT_FOUND,
        409: {"model": Problem, "description": "It was re-ingested already."},
    },
)
def reingest(
    dead_letter_id: RowId, body: DeadLetterReingest, engine: EngineDep, admin: Admin
) -> DeadLetterReingested:
    """Store a dead letter (or its corrected content) through the ingest path; 422 on `content` when
    it still cannot be read, 409 when it was re-ingested already."""
    _row(engine, admin, dead_letter_id)
    content = _content(body)
    settings = get_settings()
    node = body.node or settings.node
    try:
        done = reingest_dead_letter(
            engine,
            dead_letter_id,
            actor=admin.name,
            node=node,
            content=content,
            batch_hooks=[ResponseHook()],
            sizes=StoredSizes(settings.json_event_max_bytes, settings.dead_letter_max_bytes),
        )
    except ReingestRefused as exc:
        if exc.reason == "unreadable":
            field = "content_base64" if body.content_base64 is not None else "content"
            raise field_error(("body", field), str(exc)) from None
        raise HTTPException(404 if exc.reason == "missing" else 409, str(exc)) from None
    after = _summary(_row(engine, admin, dead_letter_id))
    audit.record_now(
        engine,
        actor=admin.name,
        action="dead_letter.reingest",
        target=f"dead-letter/{dead_letter_id}",
        before={"reingested_at": None},
        after={
            "node": node,
            "corrected": content is not None,
            "alert_uuids": done.alert_uuids,
            "stored": done.stored,
        },
    )
    return DeadLetterReingested(
        dead_letter=after,
        alert_uuids=done.alert_uuids,
        stored=done.stored,
        duplicates=done.duplicates,
        counts=done.counts,
    )


def _visible(principal: Principal) -> ColumnElement[bool]:
    """Dead letters have no tenant: only a principal bound to none sees them."""
    return false() if principal.tenants else true()


def _size() -> Any:
    return func.length(_DEAD.c.raw).label("size")


def _summary(row: dict[str, Any]) -> DeadLetter:
    return DeadLetter.model_validate({**row, "size": len(row["raw"])})


def _row(engine: Engine, principal: Principal, dead_letter_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(_DEAD).where(_DEAD.c.id == dead_letter_id, _visible(principal))).first()
    if row is None:
        raise HTTPException(404, f"no dead letter {dead_letter_id}")
    return dict(row._mapping)


def _content(body: DeadLetterReingest) -> bytes | None:
    if body.content is not None and body.content_base64 is not None:
        raise field_error(("body", "content_base64"), "give `content` or `content_base64`, not both")
    if body.content is not None:
        return body.content.encode()
    if body.content_base64 is not None:
        try:
            return base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise field_error(("body", "content_base64"), "not base64") from None
    return None
