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

Only for the local Prefect server of `up`, whose one runner is the one that died; a shared
server may have other runners whose runs are alive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alertflow.up.prefect_api import PrefectApi

RESCHEDULED_STATE_NAME = "Rescheduled"
ORPHAN_STATES = ("PENDING", "RUNNING")


def orphaned_run_filter(limit: int = 200) -> dict[str, Any]:
    """The `/flow_runs/filter` body for runs a runner had taken and not finished."""
    return {"flow_runs": {"state": {"type": {"any_": list(ORPHAN_STATES)}}}, "limit": limit}


def rescheduled_state(run: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Scheduled state an orphaned run goes back to, due now, with the reason."""
    return {
        "type": "SCHEDULED",
        "name": RESCHEDULED_STATE_NAME,
        "message": (
            f"scheduled again by alertflow at {now.isoformat(timespec='seconds')}: the runner "
            f"executing it died while it was {run['state_type']}"
        ),
        "state_details": {"scheduled_time": now.isoformat()},
    }


def reschedule_orphaned_runs(api: PrefectApi, *, now: datetime) -> list[str]:
    """Move the deployment runs left Pending/Running by a dead runner back to Scheduled; their ids."""
    rescheduled: list[str] = []
    for run in api.request("POST", "/flow_runs/filter", json=orphaned_run_filter()):
        if not run.get("deployment_id"):
            continue  # not started by a runner: a flow called in some process of its own
        result = api.request(
            "POST",
            f"/flow_runs/{run['id']}/set_state",
            json={"state": rescheduled_state(run, now), "force": True},
        )
        if result and result.get("status") == "ACCEPT":
            rescheduled.append(run["id"])
    return rescheduled
