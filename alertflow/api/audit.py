"""The audit log: every write made through the API or `alertflow users`, with before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from alertmodel.account import AuditEntry
from alertmodel.types import utcnow

_AUDIT = AuditEntry.__table__


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry, in the caller's transaction so it commits (or not) with the change."""
    conn.execute(
        _AUDIT.insert().values(
            at=at or utcnow(),
            actor=actor[:255],
            action=action[:64],
            target=target[:255],
            before=before,
            after=after,
        )
    )


def record_now(engine: Engine, **entry: Any) -> None:
    """Append one entry in its own transaction (after a change made by code that commits itself)."""
    with engine.begin() as conn:
        record(conn, **entry)
