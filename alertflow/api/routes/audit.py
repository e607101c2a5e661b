"""`/audit` (admin): every write made through the API or `alertflow users`, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from alertflow.api.auth import Admin
from alertflow.api.cursor import decode_cursor, encode_cursor
from alertflow.api.deps import EngineDep
from alertflow.api.schemas import AuditEntry, AuditPage
from alertflow.api.timeparam import IsoDateTime, as_utc
from alertmodel.account import AuditEntry as AuditRow

router = APIRouter(prefix="/audit", tags=["audit"])
_AUDIT = AuditRow.__table__


@router.get("", response_model=AuditPage)
def audit_log(
    engine: EngineDep,
    _admin: Admin,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditPage:
    """Audit entries, newest first, filtered by actor, action and time; keyset pages."""
    query = select(_AUDIT).order_by(_AUDIT.c.id.desc()).limit(limit + 1)
    if actor is not None:
        query = query.where(_AUDIT.c.actor == actor)
    if action is not None:
        query = query.where(_AUDIT.c.action == action)
    if since is not None:
        query = query.where(_AUDIT.c.at >= as_utc(since, "since"))
    if until is not None:
        query = query.where(_AUDIT.c.at < as_utc(until, "until"))
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, (int,))
        query = query.where(_AUDIT.c.id < last_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    page = [AuditEntry.model_validate(dict(r._mapping)) for r in rows[:limit]]
    return AuditPage(items=page, next_cursor=encode_cursor([page[-1].id]) if len(rows) > limit else None)
