"""The dashboard's health panel: ingest rate, dead letters, the outbox's depth and oldest age, failed actions.

Every figure is read with the API's own visibility rules: alert counts from the dashboard
rollups for the principal's tenants, outbox rows of those tenants' alerts (`routes.outbox`),
and dead letters only for a principal bound to no tenant (they have none; `routes.dead_letters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from alertflow.api import dashboard as dashboard_figures
from alertflow.api.accounts import Principal
from alertflow.api.routes import dead_letters as dead_letter_routes
from alertflow.api.routes import outbox as outbox_routes
from alertmodel import DeadLetter, Outbox

_DEAD = DeadLetter.__table__
_OUTBOX = Outbox.__table__


@dataclass(frozen=True)
class Health:
    """What the health panel shows; None where the principal may not see the figure."""

    last_hour: int
    this_hour: int
    this_hour_start: datetime
    dead_letters: int | None
    outbox_pending: int
    outbox_oldest_s: int | None
    outbox_failed: int

    @property
    def outbox_oldest(self) -> str:
        """The age of the oldest pending action in words (e.g. `3 min`)."""
        if self.outbox_oldest_s is None:
            return "none pending"
        seconds = self.outbox_oldest_s
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"


def read(
    conn: Connection, principal: Principal, now: datetime, hourly: dashboard_figures.Dashboard | None = None
) -> Health:
    """The health figures for `principal` at `now`.

    `hourly`: figures the caller read already whose window ends with this hour in hourly bins
    (the dashboard's own, up to 7 days); otherwise the last two hours are read here.
    """
    hour = now.replace(minute=0, second=0, microsecond=0)
    figures = hourly
    if figures is None or figures.step != "hour" or figures.until != hour + timedelta(hours=1):
        figures = dashboard_figures.read(
            conn, hour - timedelta(hours=1), hour + timedelta(hours=1), list(principal.tenants) or None, 1
        )
    per_hour = {b.start: b.count for b in figures.histogram}
    dead = None
    if not principal.tenants:
        dead = conn.execute(
            select(func.count())
            .select_from(_DEAD)
            .where(_DEAD.c.reingested_at.is_(None), dead_letter_routes._visible(principal))
        ).scalar_one()
    by_state = {
        state: (int(n), oldest)
        for state, n, oldest in conn.execute(
            select(_OUTBOX.c.state, func.count(), func.min(_OUTBOX.c.created_at))
            .where(_OUTBOX.c.state.in_(("pending", "failed")), outbox_routes._visible(principal))
            .group_by(_OUTBOX.c.state)
        )
    }
    pending, oldest = by_state.get("pending", (0, None))
    failed = by_state.get("failed", (0, None))[0]
    return Health(
        last_hour=per_hour.get(hour - timedelta(hours=1), 0),
        this_hour=per_hour.get(hour, 0),
        this_hour_start=hour,
        dead_letters=dead,
        outbox_pending=pending,
        outbox_oldest_s=None if oldest is None else max(0, int((now - oldest).total_seconds())),
        outbox_failed=failed,
    )
