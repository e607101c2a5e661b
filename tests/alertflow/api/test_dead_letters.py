"""`/dead-letters` against the live API on SQLite and MariaDB: list with filters and keyset pages, the
bytes and the reason, and a re-ingest through the real ingest path that keeps and marks the dead letter."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from alertmodel import Alert, AuditEntry
from alertmodel.types import utcnow
from ingest.policy_source import store_policy

from .conftest import TENANT_A, LiveApi
from .ops import dead_letter

DEAD = "/api/v1/dead-letters"


def _stored(live_api: LiveApi, alert_uuid: str) -> int:
    table = Alert.__table__
    with live_api.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(table.c.alert_uuid == alert_uuid)).scalar_one())


def test_a_dead_letter_shows_its_bytes_and_reason_and_is_listed_by_source_and_reason(
    live_api: LiveApi,
) -> None:
    dead_id, whole = dead_letter(live_api.engine)
    viewer = live_api.client("viewer")

    shown = viewer.get(f"{DEAD}/{dead_id}").json()

    cut = whole[: len(whole) // 2]
    assert base64.b64decode(shown["raw_base64"]) == cut
    assert shown["raw_text"] == cut.decode()
    assert shown["size"] == len(cut)
    assert shown["source"] == "suricata" and shown["origin"] == "file:/var/log/suricata/eve.json"
    assert shown["reason"].startswith("line 1: ")
    assert shown["reingested_at"] is None
    listed = viewer.get(DEAD, params={"source": "suricata", "reason": shown["reason"][:20]}).json()
    assert dead_id in [d["id"] for d in listed["items"]]
    assert viewer.get(DEAD, params={"source": "wazuh", "reason": shown["reason"]}).json()["items"] == []
    assert viewer.get(DEAD, params={"reason": "100%_no_such_reason"}).json()["items"] == []


def test_bytes_that_are_not_utf8_come_as_base64_only(live_api: LiveApi) -> None:
    raw = b'{"event_type": "alert", "x": "\xff\xfe' + uuid.uuid4().hex.encode() + b'"}'
    dead_id, _ = dead_letter(live_api.engine, raw, source="auto")

    shown = live_api.client("viewer").get(f"{DEAD}/{dead_id}").json()

    assert (base64.b64decode(shown["raw_base64"]), shown["raw_text"]) == (raw, None)


def test_dead_letters_come_in_keyset_pages_newest_first_within_a_time_window(live_api: LiveApi) -> None:
    since = (utcnow() - timedelta(seconds=1)).isoformat()
    ids = [dead_letter(live_api.engine)[0] for _ in range(3)]
    viewer = live_api.client("viewer")

    first = viewer.get(DEAD, params={"limit": 2, "since": since}).json()
    second = viewer.get(DEAD, params={"limit": 2, "since": since, "cursor": first["next_cursor"]}).json()

    seen = [d["id"] for d in first["items"] + second["items"]]
    assert seen[:3] == sorted(ids, reverse=True)
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert viewer.get(DEAD, params={"since": future}).json() == {"items": [], "next_cursor": None}
    assert viewer.get(DEAD, params={"cursor": "not-ours"}).status_code == 422


def test_a_corrected_dead_letter_is_stored_once_and_kept_marked(live_api: LiveApi) -> None:
    dead_id, whole = dead_letter(live_api.engine)
    admin = live_api.client("admin")

    done = admin.post(f"{DEAD}/{dead_id}/reingest", json={"content": whole.decode(), "node": "edge-1"})

    assert done.status_code == 200, done.text
    result = done.json()
    [alert_uuid] = result["alert_uuids"]
    assert (result["stored"], result["duplicates"]) == (1, 0)
    assert result["dead_letter"]["reingested_by"] == "admin"
    assert result["dead_letter"]["reingested_alerts"] == [alert_uuid]
    alert = admin.get(f"/api/v1/alerts/{alert_uuid}").json()
    assert (alert["source"], alert["node_id"]) == ("Suricata", "edge-1")
    assert alert["json_event"]["flow_id"] > 0
    again = admin.post(f"{DEAD}/{dead_id}/reingest", json={"content": whole.decode(), "node": "edge-1"})
    assert again.status_code == 409
    assert "re-ingested already" in again.json()["detail"]
    assert _stored(live_api, alert_uuid) == 1
    kept = admin.get(f"{DEAD}/{dead_id}").json()
    assert kept["reingested_alerts"] == [alert_uuid] and kept["raw_text"] == whole[: len(whole) // 2].decode()
    assert dead_id in [d["id"] for d in admin.get(DEAD, params={"reingested": True}).json()["items"]]
    assert dead_id not in [d["id"] for d in admin.get(DEAD, params={"reingested": False}).json()["items"]]
    audit = AuditEntry.__table__
    with live_api.engine.connect() as conn:
        entry = conn.execute(select(audit).where(audit.c.target == f"dead-letter/{dead_id}")).one()
    assert (entry.actor, entry.action, entry.after["alert_uuids"]) == (
        "admin",
        "dead_letter.reingest",
        [alert_uuid],
    )


def test_a_re_ingest_whose_mark_was_lost_stores_nothing_twice(live_api: LiveApi) -> None:
    dead_id, whole = dead_letter(live_api.engine)
    admin = live_api.client("admin")
    first = admin.post(
        f"{DEAD}/{dead_id}/reingest", json={"content": whole.decode(), "node": "edge-1"}
    ).json()
    from alertmodel import DeadLetter

    table = DeadLetter.__table__
    with live_api.engine.begin() as conn:  # as if the mark had never been written
        conn.execute(table.update().where(table.c.id == dead_id).values(reingested_at=None))

    second = admin.post(
        f"{DEAD}/{dead_id}/reingest", json={"content": whole.decode(), "node": "edge-1"}
    ).json()

    assert second["alert_uuids"] == first["alert_uuids"]
    assert (second["stored"], second["duplicates"]) == (0, 1)
    assert _stored(live_api, first["alert_uuids"][0]) == 1


def test_the_re_ingest_applies_the_nodes_active_policy(live_api: LiveApi) -> None:
    node = f"edge-{uuid.uuid4().hex[:8]}"
    store_policy(live_api.engine, node, {"filter_name": "edge", "ref_id": TENANT_A})
    dead_id, whole = dead_letter(live_api.engine)

    done = live_api.client("admin").post(
        f"{DEAD}/{dead_id}/reingest", json={"content_base64": base64.b64encode(whole).decode(), "node": node}
    )

    [alert_uuid] = done.json()["alert_uuids"]
    alert = live_api.client("analyst-a").get(f"/api/v1/alerts/{alert_uuid}").json()
    assert (alert["ref_id"], alert["filter"], alert["node_id"]) == (TENANT_A, "edge", node)


def test_content_that_still_cannot_be_read_is_a_422_naming_it_and_changes_nothing(live_api: LiveApi) -> None:
    dead_id, _ = dead_letter(live_api.engine)
    admin = live_api.client("admin")

    unchanged = admin.post(f"{DEAD}/{dead_id}/reingest", json={})
    still_bad = admin.post(f"{DEAD}/{dead_id}/reingest", json={"content": '{"event_type": "alert", "flow'})
    not_base64 = admin.post(f"{DEAD}/{dead_id}/reingest", json={"content_base64": "***"})

    assert unchanged.status_code == still_bad.status_code == not_base64.status_code == 422
    assert unchanged.json()["detail"][0]["loc"] == ["body", "content"]
    assert "still not an event alertflow can read" in still_bad.json()["detail"][0]["msg"]
    assert not_base64.json()["detail"][0]["loc"] == ["body", "content_base64"]
    assert admin.get(f"{DEAD}/{dead_id}").json()["reingested_at"] is None


def test_a_tenant_bound_user_sees_no_dead_letters(live_api: LiveApi) -> None:
    dead_id, _ = dead_letter(live_api.engine)
    analyst = live_api.client("analyst-a")

    assert analyst.get(DEAD).json()["items"] == []
    assert analyst.get(f"{DEAD}/{dead_id}").status_code == 404
    assert live_api.client("viewer").get(f"{DEAD}/{dead_id}").status_code == 200
