"""`GET /api/v1/metrics`: the database gauges in Prometheus's text format, for admins bound to no tenant."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from alertmodel import Outbox, PlaybookRun
from alertmodel.types import utcnow

from .conftest import LiveApi


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_admins_read_outbox_and_playbook_run_gauges_as_prometheus_text(live_api: LiveApi) -> None:
    deployment = f"contain/{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with live_api.engine.begin() as conn:
        conn.execute(
            insert(PlaybookRun.__table__),
            [
                {"alert_uuid": str(uuid.uuid4()), "profile": "p", "deployment": deployment, "state": state}
                | {"created_at": now, "updated_at": now}
                for state in ("COMPLETED", "COMPLETED", "FAILED")
            ],
        )
        conn.execute(
            insert(Outbox.__table__),
            {
                "kind": "incident",
                "key": f"k-{uuid.uuid4().hex}",
                "payload": {},
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now - timedelta(minutes=10),
                "created_at": now,
                "updated_at": now,
            },
        )
    with live_api.client("admin") as client:
        answer = client.get("/api/v1/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    run = "alertflow_playbook_runs"
    assert found[(run, (("deployment", deployment), ("state", "COMPLETED")))] == 2
    assert found[(run, (("deployment", deployment), ("state", "FAILED")))] == 1
    assert found[("alertflow_outbox_depth", (("state", "pending"),))] >= 1
    assert found[("alertflow_outbox_oldest_due_age_seconds", ())] >= 600
    assert ("process_resident_memory_bytes", ()) in found


def test_the_metrics_are_documented_as_text_in_the_openapi_document(live_api: LiveApi) -> None:
    with live_api.client("viewer") as client:
        document = client.get("/api/v1/openapi.json").json()
    content = document["paths"]["/api/v1/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
