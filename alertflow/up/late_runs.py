"""Late scheduled runs are skipped, not piled up.

The embedded Prefect server runs with its late-runs service off (it fights API writes for
SQLite's single writer lock), and a served deployment whose runner was down would otherwise
collect Scheduled runs that all start at once when it comes back. So `alertflow up` calls
`skip_late_runs` every few seconds: an *auto-scheduled* run (one the scheduler made from a
cron/interval/rrule schedule) still Scheduled more than `grace` after its time is moved to
Cancelled, state name "Missed", with the reason. Alertflex does the same with a missed cron
job: the next occurrence runs, the missed one is reported, not replayed.

Runs created on purpose (REST, UI, CLI, response-profile actions) are never touched: they
wait in Scheduled until a runner takes them, however late, because an alert's playbook
must not be lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alertflow.up.prefect_api import PrefectApi

MISSED_STATE_NAME = "Missed"


def late_run_filter(now: datetime, grace: timedelta, limit: int = 200) -> dict[str, Any]:
    """The `/flow_runs/filter` body for Scheduled runs whose time is more than `grace` ago."""
    return {
        "flow_runs": {
            "state": {"type": {"any_": ["SCHEDULED"]}},
            "expected_start_time": {"before_": (now - grace).isoformat()},
        },
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": limit,
    }


def missed_state(run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Cancelled state a missed run is moved to, with the reason."""
    return {
        "type": "CANCELLED",
        "name": MISSED_STATE_NAME,
        "message": (
            f"skipped by alertflow: scheduled for {run['expected_start_time']}, still not started "
            f"at {now.isoformat(timespec='seconds')} (no runner was serving it); "
            "the next occurrence of the schedule runs as usual"
        ),
    }


def skip_late_runs(api: PrefectApi, *, now: datetime, grace: timedelta) -> list[str]:
    """Cancel auto-scheduled runs more than `grace` late; return their ids."""
    skipped: list[str] = []
    for run in api.request("POST", "/flow_runs/filter", json=late_run_filter(now, grace)):
        if not run.get("auto_scheduled"):
            continue
        # Not forced: if a runner took the run meanwhile (Pending/Running), the server
        # rejects the transition and the run goes on.
        result = api.request(
            "POST",
            f"/flow_runs/{run['id']}/set_state",
            json={"state": missed_state(run, now), "force": False},
        )
        if result and result.get("status") == "ACCEPT":
            skipped.append(run["id"])
    return skipped
