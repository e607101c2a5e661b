"""Human approval inside a playbook run: pause until an analyst decides, or until the timeout's default.

The run goes to Prefect's `Paused` state with an approval request saved as a flow run input
(`APPROVAL_REQUEST_KEY`): what is asked, about which alert, and what the next jobs will do.
The REST API lists those requests and resumes the run with the analyst's decision, after
checking the analyst's role and tenant; the decision is logged here and audited there.

Pausing is a flow-level act in Prefect (a task cannot pause its flow), so Python flows call
`require_approval` from the flow body, and YAML playbooks use the `require_approval` job.
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import apause_flow_run, aresume_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field

from alertmodel.types import utcnow

APPROVAL_REQUEST_KEY = "alertflow-approval-request"
MAX_TIMEOUT_S = 7 * 24 * 3600
_SERVER_GRACE_S = 3600  # the server's own pause expiry comes later, so our default can still resume the run


class ApprovalParams(BaseModel):
    """A `require_approval` job's parameters."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=500, description="What the analyst is asked.")
    timeout_s: int = Field(
        default=3600, ge=1, le=MAX_TIMEOUT_S, description="How long to wait for a decision."
    )
    default: Literal["approve", "reject"] = Field(
        default="reject", description="The outcome when nobody decides in time."
    )


class NextJob(BaseModel):
    """A job the approval guards, as the analyst sees it."""

    name: str
    type: str
    params: dict[str, object] = {}


class ApprovalRequest(BaseModel):
    """What a paused run waits for: shown in the approvals list."""

    playbook: str
    job: str
    question: str
    alert_uuid: str | None
    ref_id: str | None
    next_jobs: list[NextJob]
    asked_at: datetime
    decide_by: datetime
    default: Literal["approve", "reject"]


class ApprovalDecision(RunInput):
    """The analyst's answer, as the API resumes the run with it."""

    approved: bool
    reason: str = Field(default="", max_length=1000)
    decided_by: str = Field(default="", max_length=255)


def poll_interval_s() -> int:
    """How often a paused run looks for a decision (ALERTFLOW_APPROVAL_POLL_S, default 5 s)."""
    raw = os.environ.get("ALERTFLOW_APPROVAL_POLL_S", "5")
    try:
        return max(1, min(int(raw), 60))
    except ValueError:
        return 5


async def require_approval(
    params: ApprovalParams,
    *,
    playbook: str,
    job: str,
    key: str,
    alert_uuid: str | None,
    ref_id: str | None,
    next_jobs: list[NextJob],
) -> ApprovalDecision:
    """Pause the current flow run until an analyst approves or rejects, or `params.timeout_s` passes.

    `key` (lowercase letters, digits, '-') tells this approval from others of the same run.
    Returns the decision; when nobody decided in time, the default, with `decided_by` "timeout".
    """
    if not re.fullmatch(r"[a-z0-9-]{1,40}", key):
        raise ValueError(f"approval key must be 1-40 lowercase letters, digits or '-', not {key[:50]!r}")
    logger = get_run_logger()
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("require_approval runs inside a flow run")
    run_id: UUID = context.flow_run.id
    asked_at = utcnow()
    request = ApprovalRequest(
        playbook=playbook,
        job=job,
        question=params.question,
        alert_uuid=alert_uuid,
        ref_id=ref_id,
        next_jobs=next_jobs,
        asked_at=asked_at,
        decide_by=asked_at + timedelta(seconds=params.timeout_s),
        default=params.default,
    )
    async with get_client() as client:
        await client.create_flow_run_input(
            run_id, key=f"{APPROVAL_REQUEST_KEY}-{key}", value=request.model_dump_json()
        )
    logger.info("job %s waits for approval until %s: %s", job, request.decide_by.isoformat(), params.question)
    try:
        decision = await asyncio.wait_for(
            apause_flow_run(
                wait_for_input=ApprovalDecision,
                timeout=params.timeout_s + _SERVER_GRACE_S,
                poll_interval=poll_interval_s(),
                key=f"approval-{key}",
            ),
            timeout=params.timeout_s,
        )
    except (TimeoutError, FlowPauseTimeout):
        decision = await _default_outcome(run_id, params, key)
    assert decision is not None  # wait_for_input always yields the input
    verb = "approved" if decision.approved else "rejected"
    logger.info(
        "job %s %s by %s: %s", job, verb, decision.decided_by or "someone in Prefect's UI", decision.reason
    )
    return decision


async def _default_outcome(run_id: UUID, params: ApprovalParams, key: str) -> ApprovalDecision:
    """Resume the run ourselves with the default; an analyst who decided at that instant wins."""
    default = ApprovalDecision(
        approved=params.default == "approve",
        reason=f"no decision within {params.timeout_s} s: the default ({params.default}) applies",
        decided_by="timeout",
    )
    try:
        await aresume_flow_run(run_id, run_input=default.model_dump(mode="json"))
    except (NotPausedError, RuntimeError):  # not paused any more: someone decided just now
        async with get_client() as client:
            inputs = await client.filter_flow_run_input(
                run_id, key_prefix=f"paused-approval-{key}", limit=10, exclude_keys=set()
            )
        for item in inputs:
            if item.key.endswith("-response"):
                return ApprovalDecision.model_validate_json(item.value)
        raise
    return default
