"""Schedules for the Alertflex run modes: recurring (cron or interval) and one-time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.schedules import Cron, Interval, RRule, Schedule

SCHEDULER_WINDOW = timedelta(days=100)
"""Prefect's scheduler creates runs at most this far ahead (PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME):
a one-time run further out exists only once its time comes within the window."""


def recurring_cron(
    cron: str, *, timezone: str = "UTC", parameters: dict[str, Any] | None = None, active: bool = True
) -> Schedule:
    """Every time the cron expression matches, in `timezone`."""
    return Cron(cron, timezone=timezone, parameters=parameters, active=active)


def recurring_interval(
    every: timedelta, *, anchor: datetime | None = None, parameters: dict[str, Any] | None = None
) -> Schedule:
    """Every `every`, counted from `anchor` (now when omitted)."""
    if every < timedelta(seconds=1):
        raise ValueError(f"an interval schedule needs at least 1 second between runs, not {every}")
    return Interval(every, anchor_date=anchor, parameters=parameters)


def one_time(at: datetime, *, parameters: dict[str, Any] | None = None) -> Schedule:
    """Exactly one run at `at` (an aware datetime): an RRule with COUNT=1, in UTC."""
    if at.tzinfo is None:
        raise ValueError(f"a one-time schedule needs an aware datetime (with a time zone), not {at}")
    start = at.astimezone(UTC)
    return RRule(
        f"DTSTART:{start:%Y%m%dT%H%M%S}\nRRULE:FREQ=DAILY;COUNT=1", timezone="UTC", parameters=parameters
    )
