"""`/incidents` on a live server: open from an alert, move with comments, history, tenants, roles, audit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alertfactory import make_alert, store_batch

from .conftest import TENANT_A, TENANT_B, LiveApi


def _alert(live_api: LiveApi, tenant: str, **fields: Any) -> str:
    row = make_alert(ref_id=tenant, **fields)
    store_batch(live_api.engine, [row])
    return str(row["alert_uuid"])


def test_an_analyst_opens_an_incident_and_moves_it_with_comments(live_api: LiveApi) -> None:
    alert_uuid = _alert(live_api, TENANT_A, severity=3, description="ransomware note")
    client = live_api.client("analyst-a")
    opened = client.post(
        "/api/v1/incidents", json={"alert_uuid": alert_uuid, "comment": "on it", "assignee": "ana"}
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert (incident["state"], incident["severity"], incident["title"], incident["assignee"]) == (
        "new",
        3,
        "ransomware note",
        "ana",
    )
    assert client.get(f"/api/v1/alerts/{alert_uuid}").json()["status"] == "incident"
    iid = incident["id"]
    moved = client.post(f"/api/v1/incidents/{iid}/state", json={"state": "in_progress", "comment": "triage"})
    assert moved.status_code == 200 and moved.json()["state"] == "in_progress"
    noted = client.post(f"/api/v1/incidents/{iid}/notes", json={"comment": "host isolated"})
    assert noted.status_code == 200
    history = client.get(f"/api/v1/incidents/{iid}").json()["history"]
    assert [(h["actor"], h["from_state"], h["to_state"], h["comment"]) for h in history] == [
        ("analyst-a", None, "new", "on it"),
        ("analyst-a", "new", "in_progress", "triage"),
        ("analyst-a", "in_progress", "in_progress", "host isolated"),
    ]
    audit = live_api.client("admin").get("/api/v1/audit", params={"actor": "analyst-a"}).json()["items"]
    assert [(e["action"], e["target"]) for e in audit][:3] == [
        ("incident.note", f"incident/{iid}"),
        ("incident.state", f"incident/{iid}"),
        ("incident.open", f"incident/{iid}"),
    ]
    assert audit[1]["before"] == {"state": "new"} and audit[1]["after"]["state"] == "in_progress"


def test_a_second_incident_for_an_alert_and_a_forbidden_move_are_409(live_api: LiveApi) -> None:
    alert_uuid = _alert(live_api, TENANT_A)
    client = live_api.client("analyst")
    iid = client.post("/api/v1/incidents", json={"alert_uuid": alert_uuid}).json()["id"]
    again = client.post("/api/v1/incidents", json={"alert_uuid": alert_uuid})
    assert again.status_code == 409 and f"#{iid}" in again.json()["detail"]
    client.post(f"/api/v1/incidents/{iid}/state", json={"state": "in_progress"})
    refused = client.post(f"/api/v1/incidents/{iid}/state", json={"state": "closed"})
    assert refused.status_code == 409 and "resolved" in refused.json()["detail"]
    assert client.get(f"/api/v1/incidents/{iid}").json()["state"] == "in_progress"


def test_viewers_read_incidents_but_cannot_write(live_api: LiveApi) -> None:
    alert_uuid = _alert(live_api, TENANT_B)
    iid = live_api.client("analyst").post("/api/v1/incidents", json={"alert_uuid": alert_uuid}).json()["id"]
    viewer = live_api.client("viewer-b")
    assert viewer.get(f"/api/v1/incidents/{iid}").status_code == 200
    assert viewer.post("/api/v1/incidents", json={"alert_uuid": alert_uuid}).status_code == 403
    assert viewer.post(f"/api/v1/incidents/{iid}/state", json={"state": "resolved"}).status_code == 403
    assert viewer.post(f"/api/v1/incidents/{iid}/notes", json={"comment": "x"}).status_code == 403


def test_another_tenants_incident_and_alert_are_404(live_api: LiveApi) -> None:
    alert_b = _alert(live_api, TENANT_B)
    iid = live_api.client("analyst").post("/api/v1/incidents", json={"alert_uuid": alert_b}).json()["id"]
    client = live_api.client("analyst-a")
    assert client.get(f"/api/v1/incidents/{iid}").status_code == 404
    assert client.post(f"/api/v1/incidents/{iid}/state", json={"state": "resolved"}).status_code == 404
    assert client.post(f"/api/v1/incidents/{iid}/notes", json={"comment": "x"}).status_code == 404
    assert (
        client.post("/api/v1/incidents", json={"alert_uuid": _alert(live_api, TENANT_B)}).status_code == 404
    )
    listed = [i["id"] for i in client.get("/api/v1/incidents", params={"limit": 500}).json()["items"]]
    assert iid not in listed
    assert client.get(f"/api/v1/incidents/{iid}").json() == live_api.client("analyst-a").get(
        "/api/v1/incidents/999999999"
    ).json() | {"detail": f"no incident {iid}"}


def test_the_list_filters_pages_and_counts_what_the_caller_sees(live_api: LiveApi) -> None:
    admin = live_api.client("analyst")
    ids = []
    for severity in (0, 1, 2, 3):
        alert_uuid = _alert(live_api, TENANT_A, severity=severity)
        ids.append(admin.post("/api/v1/incidents", json={"alert_uuid": alert_uuid}).json()["id"])
    admin.post(f"/api/v1/incidents/{ids[3]}/state", json={"state": "resolved", "comment": "fp"})
    severe = admin.get("/api/v1/incidents", params={"min_severity": 2, "limit": 500}).json()["items"]
    assert {ids[2], ids[3]} <= {i["id"] for i in severe} and all(i["severity"] >= 2 for i in severe)
    resolved = admin.get("/api/v1/incidents", params={"state": "resolved"}).json()["items"]
    assert ids[3] in {i["id"] for i in resolved} and all(i["state"] == "resolved" for i in resolved)
    walked, cursor = [], None
    while True:
        page = admin.get(
            "/api/v1/incidents", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        walked += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == sorted(walked, reverse=True) and len(walked) == len(set(walked))
    stats = admin.get("/api/v1/incidents/stats").json()
    assert stats["total"] == len(walked) and stats["by_state"]["resolved"] >= 1
    tenant_b_stats = live_api.client("viewer-b").get("/api/v1/incidents/stats").json()
    tenant_b_count = len(
        live_api.client("viewer-b").get("/api/v1/incidents", params={"limit": 500}).json()["items"]
    )
    assert tenant_b_stats["total"] == tenant_b_count < stats["total"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/incidents", {"alert_uuid": 5}, "alert_uuid"),
        ("post", "/api/v1/incidents", {"alert_uuid": "x", "extra": 1}, "extra"),
        ("post", "/api/v1/incidents", {"alert_uuid": "x", "comment": "c" * 4001}, "comment"),
        ("post", "/api/v1/incidents", '{"alert_uuid": "\\ud800"}', "alert_uuid"),  # a lone surrogate
        ("post", "/api/v1/incidents/1/state", {"state": "new"}, "state"),
        ("post", "/api/v1/incidents/1/state", {}, "state"),
        ("post", f"/api/v1/incidents/{2**63}/state", {"state": "resolved"}, "incident_id"),
        ("get", "/api/v1/incidents/abc", None, "incident_id"),
        ("get", "/api/v1/incidents/0", None, "incident_id"),
    ],
)
def test_bad_incident_input_is_422_naming_the_field(
    live_api: LiveApi, method: str, path: str, body: Any, field: str
) -> None:
    client = live_api.client("analyst")
    if method == "get":
        response = client.get(path)
    elif isinstance(body, str):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert any(field in map(str, e["loc"]) for e in response.json()["detail"])
