"""`/approvals`: playbook runs paused for a human decision; an analyst of the alert's tenant decides."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Request
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, Field, ValidationError

from alertflow.api import alert_queries, audit
from alertflow.api.accounts import Principal
from alertflow.api.auth import Analyst, Viewer
from alertflow.api.deps import EngineDep
from alertflow.api.prefect_access import prefect_client
from alertflow.api.schemas import Problem
from flows.approval import APPROVAL_REQUEST_KEY, ApprovalDecision, ApprovalRequest, NextJob

router = APIRouter(prefix="/approvals", tags=["approvals"])
FlowRunId = Annotated[UUID, Path(description="The paused flow run's id.")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No run waiting for a decision (for you)."},
    409: {"model": Problem, "description": "The run is no longer waiting: someone decided, or it timed out."},
    503: {"model": Problem, "description": "Prefect's server is not configured or does not answer."},
}
_MAX_WAITING = 200


class ApprovalAlert(BaseModel):
    """The alert a waiting run is about, as much as the list shows."""

    alert_uuid: str
    source: str
    severity: int
    description: str
    srcip: str
    agent: str


class WaitingApproval(BaseModel):
    """A run paused until an analyst approves or rejects what its next jobs will do."""

    flow_run_id: UUID
    flow_run_name: str
    playbook: str
    job: str
    question: str
    next_jobs: list[NextJob]
    asked_at: datetime
    decide_by: datetime
    default: Literal["approve", "reject"]
    alert: ApprovalAlert | None
    ui_url: str | None = Field(description="The run's page in Prefect's UI, when its address is known.")


class Decision(BaseModel):
    """An analyst's answer."""

    approved: bool
    reason: str = Field(
        min_length=1, max_length=1000, description="Why: kept in the audit log and the run's logs."
    )


class DecisionRecorded(BaseModel):
    """The decision, as the run received it."""

    flow_run_id: UUID
    approved: bool
    reason: str
    decided_by: str


@router.get("", response_model=list[WaitingApproval], responses=_ERRORS)
def waiting(request: Request, engine: EngineDep, principal: Viewer) -> list[WaitingApproval]:
    """Runs waiting for a decision about alerts you may see, oldest question first."""
    with prefect_client(request) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
            limit=_MAX_WAITING,
        )
        pending = [(run, _request_of(client, run.id)) for run in runs]
    views = []
    with engine.connect() as conn:
        for run, asked in pending:
            if asked is None:
                continue
            alert = _visible_alert(conn, principal, asked)
            if alert is False:
                continue
            views.append(_view(request, run, asked, alert or None))
    return sorted(views, key=lambda v: v.asked_at)


@router.post("/{flow_run_id}", response_model=DecisionRecorded, responses=_ERRORS)
def decide(
    flow_run_id: FlowRunId, decision: Decision, request: Request, engine: EngineDep, principal: Analyst
) -> DecisionRecorded:
    """Approve or reject a waiting run; only an analyst who may see its alert decides."""
    answer = ApprovalDecision(approved=decision.approved, reason=decision.reason, decided_by=principal.name)
    with prefect_client(request) as client:
        try:
            run = client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            raise _no_run(flow_run_id) from None
        asked = _request_of(client, flow_run_id)
        if asked is None:
            raise _no_run(flow_run_id)
        with engine.connect() as conn:
            if _visible_alert(conn, principal, asked) is False:
                raise _no_run(flow_run_id)
        if run.state is None or not run.state.is_paused():
            raise HTTPException(409, f"flow run {flow_run_id} is not waiting for a decision any more")
        result = client.resume_flow_run(flow_run_id, run_input=answer.model_dump(mode="json"))
    if result.status.value != "ACCEPT":
        raise HTTPException(409, f"flow run {flow_run_id} is not waiting for a decision any more")
    audit.record_now(
        engine,
        actor=principal.name,
        action="approval.approve" if decision.approved else "approval.reject",
        target=f"flow-run:{flow_run_id}",
        before={
            "state": "Paused",
            "playbook": asked.playbook,
            "job": asked.job,
            "alert_uuid": asked.alert_uuid,
        },
        after={"approved": decision.approved, "reason": decision.reason},
    )
    return DecisionRecorded(
        flow_run_id=flow_run_id, **answer.model_dump(include={"approved", "reason", "decided_by"})
    )


def _request_of(client: SyncPrefectClient, flow_run_id: UUID) -> ApprovalRequest | None:
    """The approval request the paused run saved (the newest, if it asked several times)."""
    inputs = client.filter_flow_run_input(
        flow_run_id, key_prefix=APPROVAL_REQUEST_KEY, limit=50, exclude_keys=set()
    )
    requests = []
    for item in inputs:
        try:
            requests.append(ApprovalRequest.model_validate_json(item.value))
        except ValidationError:
            continue
    return max(requests, key=lambda r: r.asked_at) if requests else None


def _visible_alert(
    conn: Any, principal: Principal, asked: ApprovalRequest
) -> dict[str, Any] | Literal[False] | None:
    """The run's alert if the principal may see it; None for a run about no alert (global only); False to hide."""
    if asked.alert_uuid is None:
        return None if not principal.tenants else False
    alert = alert_queries.one_alert(conn, principal, asked.alert_uuid)
    return False if alert is None else alert


def _view(
    request: Request, run: FlowRun, asked: ApprovalRequest, alert: dict[str, Any] | None
) -> WaitingApproval:
    ui = request.app.state.prefect_ui_url
    return WaitingApproval(
        flow_run_id=run.id,
        flow_run_name=run.name,
        playbook=asked.playbook,
        job=asked.job,
        question=asked.question,
        next_jobs=asked.next_jobs,
        asked_at=asked.asked_at,
        decide_by=asked.decide_by,
        default=asked.default,
        alert=ApprovalAlert.model_validate(alert) if alert else None,
        ui_url=f"{ui}/runs/flow-run/{run.id}" if ui else None,
    )


def _no_run(flow_run_id: UUID) -> HTTPException:
    return HTTPException(404, f"no run {flow_run_id} waits for a decision")
