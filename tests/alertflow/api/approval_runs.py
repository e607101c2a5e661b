"""A flow run waiting for approval, made directly on the Prefect server (for route tables)."""

from __future__ import annotations

from uuid import UUID

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Paused

from alertmodel.types import utcnow
from flows.approval import APPROVAL_REQUEST_KEY, ApprovalRequest, NextJob


@flow(name="approval-fixture")
def _never_runs() -> None:
    """Only names the flow of the runs below; nothing executes them."""


def paused_run(alert_uuid: str, ref_id: str) -> UUID:
    """A run of `approval-fixture` in state Paused with an approval request about `alert_uuid`."""
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(_never_runs)
        client.set_flow_run_state(
            run.id, Paused(timeout_seconds=3600, pause_key="approval-job-0"), force=True
        )
        asked = utcnow()
        request = ApprovalRequest(
            playbook="fixture",
            job="ask",
            question="block it?",
            alert_uuid=alert_uuid,
            ref_id=ref_id,
            next_jobs=[NextJob(name="block", type="block_ips", params={"ips": ["{{ alert.srcip }}"]})],
            asked_at=asked,
            decide_by=asked,
            default="reject",
        )
        client.create_flow_run_input(
            run.id, key=f"{APPROVAL_REQUEST_KEY}-job-0", value=request.model_dump_json()
        )
    return run.id
