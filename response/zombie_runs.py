"""Prefect's own zombie-run detection: a flow run whose heartbeats stop is marked Crashed.

A work-pool worker killed with its flow-run processes (kill -9, a machine lost) tells no one:
its runs stay Running for ever. Prefect's flow engine emits `prefect.flow-run.heartbeat`
every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds (180 by default, 30 at least), and Prefect
documents a proactive automation that marks a run Crashed when the next heartbeat (or a final
state) does not follow within a window. `ensure_zombie_automation` creates that automation
once on a server; the triggers service of a server with its services on evaluates it. Then the
dispatcher's state sync sees the Crashed run (response.playbook_runs.CrashedRuns).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from response.playbook_runs import call_prefect

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.events.schemas.automations import AutomationCore

ZOMBIE_AUTOMATION_NAME = "alertflow: crash flow runs whose heartbeats stopped"
FINAL_EVENTS = ("Completed", "Failed", "Cancelled", "Crashed")


NEVER_STARTED_AUTOMATION_NAME = "alertflow: crash flow runs whose worker never started them"


def _crash_automation(
    name: str, description: str, after: set[str], expect: set[str], within_s: int
) -> AutomationCore:
    """A proactive automation: after one of `after`, none of `expect` within `within_s` → Crashed."""
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=name,
        description=description,
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            after={f"prefect.flow-run.{e}" for e in after},
            expect={f"prefect.flow-run.{e}" for e in expect},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_s),
        ),
        actions=[ChangeFlowRunState(state="CRASHED", message=description)],
    )


def zombie_automation(heartbeat_s: int) -> AutomationCore:
    """The automation: no heartbeat or final state within 1.5 heartbeats of the last (or of the start) → Crashed."""
    if heartbeat_s < 30:
        raise ValueError(
            f"heartbeat_s is at least 30 (Prefect's minimum heartbeat frequency), not {heartbeat_s}"
        )
    within = heartbeat_s * 3 // 2
    # Armed by a heartbeat and by the run starting: a worker killed between a run's Running
    # state and its first heartbeat would otherwise leave it Running for ever.
    return _crash_automation(
        ZOMBIE_AUTOMATION_NAME,
        f"no heartbeat for {within} s: the worker running it died",
        {"heartbeat", "Running"},
        {"heartbeat", *FINAL_EVENTS},
        within,
    )


def never_started_automation(start_timeout_s: int) -> AutomationCore:
    """A run a worker claimed (Pending, Submitting) but never started sends no heartbeat: when its
    worker dies there, this marks it Crashed after `start_timeout_s`."""
    return _crash_automation(
        NEVER_STARTED_AUTOMATION_NAME,
        f"claimed by a worker but not running after {start_timeout_s} s: the worker died",
        {"Pending", "Submitting"},
        {"Running", "Cancelling", "Paused", *FINAL_EVENTS},
        start_timeout_s,
    )


async def ensure_zombie_automation(client: PrefectClient, heartbeat_s: int) -> UUID:
    """The id of the zombie-run automation on the client's server, created when it is missing."""
    found = await call_prefect(
        lambda: client.read_automations_by_name(ZOMBIE_AUTOMATION_NAME), "reading automations"
    )
    if found:
        return found[0].id
    automation = zombie_automation(heartbeat_s)
    return await call_prefect(
        lambda: client.create_automation(automation), "creating the zombie-run automation"
    )
