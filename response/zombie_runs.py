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


def zombie_automation(heartbeat_s: int) -> AutomationCore:
    """The automation: no heartbeat or final state within 1.5 heartbeats of the last → Crashed."""
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    if heartbeat_s < 30:
        raise ValueError(
            f"heartbeat_s is at least 30 (Prefect's minimum heartbeat frequency), not {heartbeat_s}"
        )
    return AutomationCore(
        name=ZOMBIE_AUTOMATION_NAME,
        description="A flow run that stopped sending heartbeats (its worker died) is marked Crashed.",
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{e}" for e in FINAL_EVENTS)},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=heartbeat_s * 3 // 2),
        ),
        actions=[
            ChangeFlowRunState(
                state="CRASHED",
                message=f"no heartbeat for {heartbeat_s * 3 // 2} s: the worker running it died",
            )
        ],
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
