"""`GET /api/v1/metrics`: the database gauges in Prometheus's text format, for admins bound to no tenant."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from alertmodel import Outbox, PlaybookRun
from alertmodel.posture import NodeStats
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


def test_each_collector_nodes_newest_statistics_report_is_a_gauge(live_api: LiveApi) -> None:
    node = f"probe-{uuid.uuid4().hex[:8]}"
    older = [{"type": "node_alerts", "data": {"nids_s2": 5, "nids_agg": 1}}]
    newest = [
        {"type": "node_alerts", "data": {"nids_s2": 7, "hids_filter": 3, "Bad Name{x}": 9, "crs_s0": "x"}},
        {"type": "agents", "data": {"count": 4}},
    ]
    with live_api.engine.begin() as conn:
        for report in (older, newest):
            conn.execute(
                insert(NodeStats.__table__), {"node_id": node, "stats": report, "received_at": utcnow()}
            )
    deadline = time.monotonic() + 15  # the API reads the database at most every few seconds
    while True:
        with live_api.client("admin") as client:
            found = samples(client.get("/api/v1/metrics").text)
        mine = {
            dict(labels)["counter"]: value
            for (name, labels), value in found.items()
            if name == "alertflow_collector_node_alerts" and dict(labels)["node"] == node
        }
        if mine or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert mine == {"nids_s2": 7, "hids_filter": 3}  # the newest report only; odd names and values left out
