"""Approvals in YAML playbooks: a real run pauses, an analyst decides through the API, the run goes on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from alertmodel import AuditEntry
from flows.playbook_spec import parse_playbook
from flows.yaml_playbook import PlaybookResult, yaml_playbook
from tests.alertfactory import make_alert, store_batch

from .approval_runs import paused_run
from .conftest import TENANT_A, TENANT_B, LiveApi

pytestmark = pytest.mark.integration


def _guarded(timeout_s: int = 120, default: str = "reject") -> Any:
    return parse_playbook(
        {
            "name": "guarded",
            "jobs": [
                {
                    "name": "ask",
                    "type": "require_approval",
                    "params": {
                        "question": "Block {{ alert.srcip }}?",
                        "timeout_s": timeout_s,
                        "default": default,
                    },
                },
                {
                    "name": "report",
                    "type": "write_report",
                    "params": {"title": "blocked", "facts": {"ip": "{{ alert.srcip }}"}},
                },
            ],
        },
        origin="test",
    )


@pytest.fixture
def stored(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ALERTFLOW_DATABASE_URL", live_api.url)
    monkeypatch.setenv("ALERTFLOW_APPROVAL_POLL_S", "1")
    row = make_alert(ref_id=TENANT_A, srcip="203.0.113.77", description='<script>alert("x")</script>')
    store_batch(live_api.engine, [row])
    return row


async def _waiting(live_api: LiveApi, user: str, alert_uuid: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = await asyncio.to_thread(lambda: live_api.client(user).get("/api/v1/approvals"))
        assert listed.status_code == 200, listed.text
        mine = [w for w in listed.json() if (w["alert"] or {}).get("alert_uuid") == alert_uuid]
        if mine:
            return mine[0]
        await asyncio.sleep(0.5)
    raise AssertionError(f"no approval about {alert_uuid} listed for {user}")


async def _decide(live_api: LiveApi, user: str, run_id: str, approved: bool, reason: str) -> Any:
    return await asyncio.to_thread(
        lambda: live_api.client(user).post(
            f"/api/v1/approvals/{run_id}", json={"approved": approved, "reason": reason}
        )
    )


@pytest.mark.parametrize("approved", [True, False], ids=["approved", "rejected"])
async def test_a_run_waits_until_an_analyst_of_its_tenant_decides(
    live_api: LiveApi, stored: dict[str, Any], approved: bool
) -> None:
    run = asyncio.create_task(
        yaml_playbook(playbook=_guarded(), alert_uuid=stored["alert_uuid"], return_state=True)
    )
    waiting = await _waiting(live_api, "analyst-a", stored["alert_uuid"])
    assert waiting["question"] == "Block 203.0.113.77?"
    assert [j["name"] for j in waiting["next_jobs"]] == ["report"]
    assert waiting["ui_url"].endswith(f"/runs/flow-run/{waiting['flow_run_id']}")
    other = await asyncio.to_thread(lambda: live_api.client("viewer-b").get("/api/v1/approvals").json())
    assert all((w["alert"] or {}).get("alert_uuid") != stored["alert_uuid"] for w in other)

    assert (await _decide(live_api, "viewer", waiting["flow_run_id"], True, "me")).status_code == 403
    decided = await _decide(live_api, "analyst-a", waiting["flow_run_id"], approved, "checked the sensor")
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "analyst-a"
    again = await _decide(live_api, "analyst", waiting["flow_run_id"], not approved, "late")
    assert again.status_code == 409

    state = await asyncio.wait_for(run, 120)
    assert state.is_completed(), state.message
    result = PlaybookResult.model_validate(await state.result())
    statuses = [job.status for job in result.jobs]
    if approved:
        assert result.status == "completed" and statuses == ["completed", "completed"]
    else:
        assert result.status == "rejected" and statuses == ["rejected", "skipped"]
    assert result.jobs[0].result["decided_by"] == "analyst-a"
    with live_api.engine.connect() as conn:
        entries = conn.execute(
            select(AuditEntry.__table__).where(
                AuditEntry.__table__.c.target == f"flow-run:{waiting['flow_run_id']}"
            )
        ).all()
    assert [(e.actor, e.action, e.after["reason"]) for e in entries] == [
        ("analyst-a", "approval.approve" if approved else "approval.reject", "checked the sensor")
    ]


async def test_nobody_deciding_in_time_gives_the_default(live_api: LiveApi, stored: dict[str, Any]) -> None:
    state = await yaml_playbook(
        playbook=_guarded(timeout_s=3, default="reject"), alert_uuid=stored["alert_uuid"], return_state=True
    )
    result = PlaybookResult.model_validate(await state.result())
    assert result.status == "rejected"
    assert result.jobs[0].result["decided_by"] == "timeout"
    assert [job.status for job in result.jobs] == ["rejected", "skipped"]


def test_an_analyst_of_another_tenant_cannot_decide(live_api: LiveApi) -> None:
    row = make_alert(ref_id=TENANT_B)
    store_batch(live_api.engine, [row])
    run_id = paused_run(str(row["alert_uuid"]), TENANT_B)
    refused = live_api.client("analyst-a").post(
        f"/api/v1/approvals/{run_id}", json={"approved": True, "reason": "not mine"}
    )
    assert refused.status_code == 404
    assert (
        live_api.client("analyst")
        .post(f"/api/v1/approvals/{run_id}", json={"approved": False, "reason": "global analyst"})
        .status_code
        == 200
    )


def test_a_playbook_with_a_bad_approval_job_is_refused_naming_the_field() -> None:
    from alertmodel.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"job 0 \(ask\).*default"):
        parse_playbook(
            {
                "name": "bad",
                "jobs": [
                    {
                        "name": "ask",
                        "type": "require_approval",
                        "params": {"question": "ok?", "default": "maybe"},
                    }
                ],
            },
            origin="test",
        )
