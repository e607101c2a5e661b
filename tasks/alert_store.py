"""Enrichment from the alert store itself: how often the alert's address, event and agent were seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from pydantic import BaseModel
from sqlalchemy import func, select

from alertmodel import INDEF, Alert
from alertmodel.engine import make_engine
from alertmodel.settings import get_settings
from alertmodel.types import utcnow

_UNSET = ("", INDEF, "0")  # Alertflex's "no value" spellings: never a match


class SeenCount(BaseModel):
    """Stored alerts sharing one field's value within the window (the alert itself included)."""

    field: str
    value: str
    alerts: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class RelatedAlerts(BaseModel):
    """What the alert store already knows about an alert's address, event and agent."""

    window_hours: int
    counts: list[SeenCount]


def _alert_time(alert: dict[str, Any]) -> datetime:
    """When the alert was collected (a replayed alert keeps its own time); now when unknown."""
    value = alert.get("time_collr")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return utcnow()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return utcnow()


@task(name="related-alerts")
def related_alerts(alert: dict[str, Any], window_hours: int = 24) -> RelatedAlerts:
    """Count stored alerts with the same srcip, event and agent since `window_hours` before the alert.

    Read-only and parametrized: the alert's values are compared as data, never as SQL. Counts
    stay inside the alert's own tenant (`ref_id`), and an event is counted per source, since
    event ids of different sensors mean different things.
    """
    if not 1 <= window_hours <= 24 * 366:
        raise ValueError(f"window_hours must be 1..8784, not {window_hours}")
    since = _alert_time(alert) - timedelta(hours=window_hours)
    table = Alert.__table__
    engine = make_engine(get_settings().resolved_database_url)
    counts: list[SeenCount] = []
    try:
        with engine.connect() as conn:
            for field in ("srcip", "event", "agent"):
                value = str(alert.get(field) or "")
                if value in _UNSET:
                    continue
                where = [
                    table.c[field] == value,
                    table.c.ref_id == str(alert.get("ref_id") or ""),
                    table.c.time_collr >= since,
                ]
                if field == "event":
                    where.append(table.c.source == str(alert.get("source") or ""))
                row = conn.execute(
                    select(func.count(), func.min(table.c.time_collr), func.max(table.c.time_collr)).where(
                        *where
                    )
                ).one()
                counts.append(
                    SeenCount(field=field, value=value, alerts=row[0], first_seen=row[1], last_seen=row[2])
                )
    finally:
        engine.dispose()
    return RelatedAlerts(window_hours=window_hours, counts=counts)
