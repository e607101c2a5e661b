"""The console's approvals page: a waiting run is shown to its tenant's users; an analyst decides."""

from __future__ import annotations

from sqlalchemy import select

from alertmodel import AuditEntry
from tests.alertflow.api.approval_runs import paused_run
from tests.alertflow.api.conftest import TENANT_A

from .client import csrf_of, signed_in
from .conftest import LiveConsole


def test_an_analyst_of_the_tenant_approves_a_waiting_run_and_the_audit_log_says_so(
    live_console: LiveConsole,
) -> None:
    alert_uuid = live_console.hostile_uuids[0]  # a tenant-A alert whose fields hold markup
    run_id = paused_run(alert_uuid, TENANT_A)
    analyst = signed_in(live_console.base_url, "analyst-a")
    page = analyst.get("/approvals")
    assert page.status_code == 200 and f'action="/approvals/{run_id}"' in page.text
    assert "block it?" in page.text and "<script>" not in page.text
    assert str(run_id) not in signed_in(live_console.base_url, "viewer-b").get("/approvals").text

    viewer = signed_in(live_console.base_url, "viewer")
    seen = viewer.get("/approvals").text
    assert str(run_id) in seen and f'action="/approvals/{run_id}"' not in seen  # no form for a viewer
    refused = viewer.post(
        f"/approvals/{run_id}", data={"csrf_token": csrf_of(seen), "decision": "approve", "reason": "me"}
    )
    assert refused.status_code == 403
    forged = analyst.post(
        f"/approvals/{run_id}", data={"csrf_token": "forged", "decision": "approve", "reason": "x"}
    )
    assert forged.status_code == 403

    decided = analyst.post(
        f"/approvals/{run_id}",
        data={"csrf_token": csrf_of(page.text), "decision": "reject", "reason": "not on a Friday"},
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    assert str(run_id) not in analyst.get("/approvals").text
    with live_console.engine.connect() as conn:
        entry = conn.execute(
            select(AuditEntry.__table__).where(AuditEntry.__table__.c.target == f"flow-run:{run_id}")
        ).one()
    assert (entry.actor, entry.action, entry.after["reason"]) == (
        "analyst-a",
        "approval.reject",
        "not on a Friday",
    )
