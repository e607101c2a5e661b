"""`/outbox` against the live API on SQLite and MariaDB: rows failed by the real dispatcher are listed with
their error and retried; tenants see their alerts' rows only."""

from __future__ import annotations

from sqlalchemy import select

from alertmodel import AuditEntry

from .conftest import TENANT_A, TENANT_B, LiveApi
from .ops import failed_outbox_row, outbox_rows

OUTBOX = "/api/v1/outbox"


def test_a_failed_row_is_listed_with_its_error_and_retried_once(live_api: LiveApi) -> None:
    row_id, alert_uuid = failed_outbox_row(live_api.engine, TENANT_A)
    analyst = live_api.client("analyst")

    listed = analyst.get(OUTBOX, params={"state": "failed", "alert_uuid": alert_uuid}).json()

    [entry] = listed["items"]
    assert (entry["id"], entry["kind"], entry["state"], entry["attempts"], entry["due"]) == (
        row_id,
        "jira",
        "failed",
        1,
        False,
    )
    assert entry["alert_uuid"] == alert_uuid and entry["key"].startswith(f"{alert_uuid}:jira-")
    assert "JIRA Site block" in entry["last_error"]
    assert listed["counts"]["failed"] >= 1
    retried = analyst.post(f"{OUTBOX}/{row_id}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["attempts"], retried.json()["due"]) == (
        "pending",
        0,
        True,
    )
    assert [r.state for r in outbox_rows(live_api.engine) if r.id == row_id] == ["pending"]
    assert analyst.post(f"{OUTBOX}/{row_id}/retry").status_code == 409
    due = analyst.get(OUTBOX, params={"due": True, "kind": "jira"}).json()["items"]
    assert row_id in [e["id"] for e in due]
    audit = AuditEntry.__table__
    with live_api.engine.connect() as conn:
        entry = conn.execute(select(audit).where(audit.c.target == f"outbox/{row_id}")).one()
    assert (entry.actor, entry.before["state"], entry.after["state"]) == ("analyst", "failed", "pending")


def test_outbox_rows_come_in_keyset_pages(live_api: LiveApi) -> None:
    ids = [failed_outbox_row(live_api.engine, TENANT_A)[0] for _ in range(3)]
    viewer = live_api.client("viewer")

    first = viewer.get(OUTBOX, params={"limit": 2, "min_attempts": 1}).json()
    second = viewer.get(OUTBOX, params={"limit": 2, "min_attempts": 1, "cursor": first["next_cursor"]}).json()

    assert [e["id"] for e in first["items"] + second["items"]][:3] == sorted(ids, reverse=True)


def test_a_tenant_bound_user_sees_only_its_alerts_rows(live_api: LiveApi) -> None:
    own, _ = failed_outbox_row(live_api.engine, TENANT_B)
    other, _ = failed_outbox_row(live_api.engine, TENANT_A)
    viewer = live_api.client("viewer-b")

    listed = [e["id"] for e in viewer.get(OUTBOX, params={"limit": 500}).json()["items"]]

    assert own in listed and other not in listed
    assert viewer.get(f"{OUTBOX}/{own}").status_code == 200
    assert viewer.get(f"{OUTBOX}/{other}").status_code == 404
    assert live_api.client("analyst-a").post(f"{OUTBOX}/{own}/retry").status_code == 404
