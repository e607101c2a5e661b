"""Flow runs orphaned by a runner that died are scheduled again.

The served runner executes each flow run in a subprocess of its own process group. When the
runner dies (kill -9, out of memory), `up` kills what is left of that group and starts the
runner again, but the server still shows the runs it had taken as Pending or Running, and no
one will ever finish them: the restarted runner only picks up Scheduled runs. So before the
runner starts again, `reschedule_orphaned_runs` moves every deployment run that is Pending or
Running back to Scheduled (now, state name "Rescheduled", with the reason), and the new
runner executes it again under the same id: an alert's playbook still gets exactly one flow
run. A playbook that had half-run does its steps again, so steps are written to be repeatable
(the sensor's blocklist entry is added once, an existing JIRA issue or TheHive case is found).

A run whose process died is Crashed (Prefect's state for an infrastructure failure, never for
the playbook's own error, which is Failed): a run submitted just before the Prefect server
went away cannot even load itself. `reschedule_crashed_runs` schedules such a deployment run
again, once per run (the caller keeps the ids it already tried).

Only for the local Prefect server of `up`, whose one runner is the one that died; a shared
server may have other runners whose runs are alive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alertflow.up.prefect_api import PrefectApi

RESCHEDULED_STATE_NAME = "Rescheduled"
ORPHAN_STATES = ("PENDING", "RUNNING")
CRASHED_STATES = ("CRASHED",)


def orphaned_run_filter(limit: int = 200, states: tuple[str, ...] = ORPHAN_STATES) -> dict[str, Any]:
    """The `/flow_runs/filter` body for runs a runner had taken and not finished."""
    return {"flow_runs": {"state": {"type": {"any_": list(states)}}}, "limit": limit}


def rescheduled_state(run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Scheduled state an orphaned run goes back to, due now, with the reason."""
    return {
        "type": "SCHEDULED",
        "name": RESCHEDULED_STATE_NAME,
        "message": (
            f"scheduled again by alertflow at {now.isoformat(timespec='seconds')}: the process "
            f"executing it died while it was {run['state_type']}"
        ),
        "state_details": {"scheduled_time": now.isoformat()},
    }


def reschedule_orphaned_runs(api: PrefectApi, *, now: datetime) -> list[str]:
    """Move the deployment runs left Pending/Running by a dead runner back to Scheduled; their ids."""
    return _reschedule(api, orphaned_run_filter(), now, skip=set())


def reschedule_crashed_runs(api: PrefectApi, *, now: datetime, since: datetime, tried: set[str]) -> list[str]:
    """Schedule again each deployment run that crashed after `since` and is not in `tried`
    (which gains them); their ids. Runs that crashed before (an earlier `up`) are left as they are."""
    body = orphaned_run_filter(states=CRASHED_STATES)
    rescheduled = _reschedule(api, body, now, skip=tried, since=since)
    tried.update(rescheduled)
    return rescheduled


def _reschedule(
    api: PrefectApi, body: dict[str, Any], now: datetime, *, skip: set[str], since: datetime | None = None
) -> list[str]:
    rescheduled: list[str] = []
    for run in api.request("POST", "/flow_runs/filter", json=body):
        if not run.get("deployment_id") or run["id"] in skip:
            continue  # not started by a runner (a flow called in a process of its own), or tried
        stamp = (run.get("state") or {}).get("timestamp")
        if since is not None and (not stamp or datetime.fromisoformat(stamp) < since):
            continue
        result = api.request(
            "POST",
            f"/flow_runs/{run['id']}/set_state",
            json={"state": rescheduled_state(run, now), "force": True},
        )
        if result and result.get("status") == "ACCEPT":
            rescheduled.append(run["id"])
    return rescheduled
