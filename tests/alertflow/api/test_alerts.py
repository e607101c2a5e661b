"""`/alerts` on a live server: filters, tenants, keyset pages, one alert, related alerts, its response."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from alertmodel import Alert, PlaybookRun
from response.incidents import open_incident
from tests.alertfactory import make_alert, store_batch

from .conftest import TENANT_A, TENANT_B, LiveApi

ALERTS = Alert.__table__


def stored(live_api: LiveApi) -> list[dict[str, Any]]:
    with live_api.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ALERTS))]


def walk(
    client: httpx.Client, params: dict[str, Any] | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Every alert of a search, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/alerts", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_the_ingested_alerts_of_both_tenants_are_there(live_api: LiveApi) -> None:
    tenants = {r["ref_id"] for r in stored(live_api)}
    assert {TENANT_A, TENANT_B} <= tenants


@pytest.mark.parametrize(
    ("user", "tenants"),
    [("admin", None), ("viewer", None), ("analyst-a", {TENANT_A}), ("viewer-b", {TENANT_B})],
)
def test_a_user_sees_exactly_the_alerts_of_their_tenants(
    live_api: LiveApi, user: str, tenants: set[str] | None
) -> None:
    expected = {r["alert_uuid"] for r in stored(live_api) if tenants is None or r["ref_id"] in tenants}
    got = [a["alert_uuid"] for a in walk(live_api.client(user))]
    assert len(got) == len(set(got)) and set(got) == expected


def test_a_tenant_filter_cannot_widen_a_tenant_bound_user(live_api: LiveApi) -> None:
    assert walk(live_api.client("viewer-b"), {"tenant": TENANT_A}) == []


def test_pages_in_each_sort_order_cover_every_alert_once_in_order(live_api: LiveApi) -> None:
    client = live_api.client("admin")
    rows = stored(live_api)
    for sort, key in [
        ("-time_collr", lambda r: (r["time_collr"], r["alert_id"])),
        ("time_collr", lambda r: (r["time_collr"], r["alert_id"])),
        ("-severity", lambda r: (r["severity"], r["time_collr"], r["alert_id"])),
        ("severity", lambda r: (r["severity"], r["time_collr"], r["alert_id"])),
    ]:
        expected = [r["alert_uuid"] for r in sorted(rows, key=key, reverse=sort.startswith("-"))]
        assert [a["alert_uuid"] for a in walk(client, {"sort": sort}, limit=7)] == expected, sort


def test_paging_neither_repeats_nor_skips_while_alerts_arrive(live_api: LiveApi) -> None:
    client = live_api.client("admin")
    before = {r["alert_uuid"] for r in stored(live_api)}
    first = client.get("/api/v1/alerts", params={"limit": 5}).json()
    seen = [a["alert_uuid"] for a in first["items"]]
    last_time = datetime.fromisoformat(first["items"][-1]["time_collr"])
    newcomers = [
        make_alert(ref_id=TENANT_A, time_collr=datetime.now(UTC) + timedelta(hours=1)),
        make_alert(ref_id=TENANT_A, time_collr=last_time),  # same time as the cursor row, a newer id
        make_alert(ref_id=TENANT_A, time_collr=last_time - timedelta(microseconds=1)),
    ]
    store_batch(live_api.engine, newcomers)
    cursor = first["next_cursor"]
    while cursor:
        page = client.get("/api/v1/alerts", params={"limit": 5, "cursor": cursor}).json()
        seen += [a["alert_uuid"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert newcomers[2]["alert_uuid"] in seen  # older than the cursor: still ahead of it


def _ip_in(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network)
    except ValueError:
        return False


FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"source": "Suricata"}, lambda r: r["source"] == "Suricata"),
    ({"severity": [2, 3]}, lambda r: r["severity"] in (2, 3)),
    ({"min_severity": 2}, lambda r: r["severity"] >= 2),
    ({"status": "processed"}, lambda r: r["status"] == "processed"),
    ({"event": "2100498"}, lambda r: r["event"] == "2100498"),
    ({"srcip": "82.165.177.154"}, lambda r: r["srcip"] == "82.165.177.154"),
    ({"srcip": "10.0.0.0/8"}, lambda r: _ip_in(r["srcip"], "10.0.0.0/8")),
    ({"dstip": "10.16.0.0/20"}, lambda r: _ip_in(r["dstip"], "10.16.0.0/20")),
    ({"ip": "10.0.0.3"}, lambda r: "10.0.0.3" in (r["srcip"], r["dstip"])),
    ({"srcip": "::1"}, lambda r: _ip_in(r["srcip"], "::1/128")),
    ({"dstport": 80}, lambda r: r["dstport"] == 80),
    ({"port": 80}, lambda r: 80 in (r["srcport"], r["dstport"])),
    ({"q": "et "}, lambda r: "et " in r["description"].lower()),
    ({"q": "%"}, lambda r: "%" in r["description"]),
    ({"q": "_"}, lambda r: "_" in r["description"]),
    ({"q": "' OR '1'='1"}, lambda r: "' OR '1'='1" in r["description"]),
    ({"tenant": TENANT_B, "source": "Wazuh"}, lambda r: r["ref_id"] == TENANT_B and r["source"] == "Wazuh"),
    ({"since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00"}, lambda r: True),
    ({"until": "2000-01-01T00:00:00+02:00"}, lambda r: False),
]


@pytest.mark.parametrize(("params", "predicate"), FILTERS, ids=[json.dumps(f[0]) for f in FILTERS])
def test_each_filter_returns_exactly_the_matching_alerts(
    live_api: LiveApi, params: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]
) -> None:
    expected = {r["alert_uuid"] for r in stored(live_api) if predicate(r)}
    got = {a["alert_uuid"] for a in walk(live_api.client("admin"), params)}
    assert got == expected


def test_exact_field_filters_match_on_stored_values(live_api: LiveApi) -> None:
    marked = make_alert(
        ref_id=TENANT_A,
        user="o'brien\"; --",
        file="/tmp/%_x",
        process="sh",
        sensor="s-1",
        agent="agent-7",
        category="Cat 5",
        node_id="node-9",
        hash_md5="0" * 31 + "a",
        hash_sha256="b" * 64,
        time_collr=datetime(2020, 1, 1, tzinfo=UTC),
    )
    store_batch(live_api.engine, [marked])
    client = live_api.client("admin")
    for params in [
        {"user": "o'brien\"; --"},
        {"file": "/tmp/%_x"},
        {"process": "sh", "sensor": "s-1"},
        {"agent": "agent-7", "category": "Cat 5", "node": "node-9"},
        {"hash": "0" * 31 + "A"},
        {"hash": "b" * 64},
        {"since": "2019-12-31T23:00:00Z", "until": "2020-01-01T00:00:00.000001Z"},
    ]:
        assert [a["alert_uuid"] for a in walk(client, params)] == [marked["alert_uuid"]], params
    assert walk(client, {"file": "/tmp/%"}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"severity": 9}, "severity"),
        ({"min_severity": "high"}, "min_severity"),
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"srcip": "10.0.0.300"}, "srcip"),
        ({"dstip": "fe80::/10"}, "dstip"),
        ({"port": 70000}, "port"),
        ({"since": "yesterday"}, "since"),
        ({"sort": "description"}, "sort"),
        ({"status": "deleted"}, "status"),
        ({"hash": "xyz"}, "hash"),
        ({"cursor": "garbage"}, "cursor"),
        ({"unknown": "1"}, "unknown"),
        ({"source": "x" * 33}, "source"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    live_api: LiveApi, params: dict[str, Any], field: str
) -> None:
    response = live_api.client("viewer").get("/api/v1/alerts", params=params)
    assert response.status_code == 422, response.text
    assert any(field in map(str, error["loc"]) for error in response.json()["detail"])


def test_a_cursor_of_another_sort_order_is_refused(live_api: LiveApi) -> None:
    client = live_api.client("admin")
    cursor = client.get("/api/v1/alerts", params={"limit": 1}).json()["next_cursor"]
    response = client.get("/api/v1/alerts", params={"limit": 1, "cursor": cursor, "sort": "-severity"})
    assert response.status_code == 422


def test_one_alert_has_every_field_and_its_raw_event_parsed(live_api: LiveApi) -> None:
    row = next(r for r in stored(live_api) if r["ref_id"] == TENANT_A and r["json_event"].startswith("{"))
    response = live_api.client("analyst-a").get(f"/api/v1/alerts/{row['alert_uuid']}")
    assert response.status_code == 200
    alert = response.json()
    assert alert["json_event"] == json.loads(row["json_event"])
    assert set(alert) == {col.name for col in ALERTS.columns} - {"alert_id"}
    assert alert["srcip"] == row["srcip"] and alert["severity"] == row["severity"]


def test_another_tenants_alert_is_404_like_an_unknown_one(live_api: LiveApi) -> None:
    row = next(r for r in stored(live_api) if r["ref_id"] == TENANT_A)
    client = live_api.client("viewer-b")
    for path in ("", "/related", "/response"):
        assert client.get(f"/api/v1/alerts/{row['alert_uuid']}{path}").status_code == 404
        assert client.get(f"/api/v1/alerts/{uuid.uuid4()}{path}").status_code == 404
    assert client.get("/api/v1/alerts/not-a-uuid").status_code == 422


def test_related_alerts_share_the_srcip_event_or_agent_and_stay_in_the_tenant(live_api: LiveApi) -> None:
    lead = make_alert(ref_id=TENANT_B, srcip="198.51.100.7", event="9001", agent="agent-x")
    same_ip = make_alert(ref_id=TENANT_B, srcip="198.51.100.7", event="1", agent="a1")
    same_event = make_alert(ref_id=TENANT_B, srcip="198.51.100.8", event="9001", agent="a2")
    same_agent = make_alert(ref_id=TENANT_B, srcip="198.51.100.9", event="2", agent="agent-x")
    other_tenant = make_alert(ref_id=TENANT_A, srcip="198.51.100.7", event="9001", agent="agent-x")
    store_batch(live_api.engine, [lead, same_ip, same_event, same_agent, other_tenant])
    response = live_api.client("viewer-b").get(f"/api/v1/alerts/{lead['alert_uuid']}/related")
    assert response.status_code == 200
    groups = {k: [a["alert_uuid"] for a in v] for k, v in response.json().items()}
    assert groups == {
        "srcip": [same_ip["alert_uuid"]],
        "event": [same_event["alert_uuid"]],
        "agent": [same_agent["alert_uuid"]],
    }
    everyone = live_api.client("admin").get(f"/api/v1/alerts/{lead['alert_uuid']}/related").json()
    assert other_tenant["alert_uuid"] in {a["alert_uuid"] for a in everyone["srcip"]}


def test_the_response_of_an_alert_shows_its_incident_history_and_playbook_runs(live_api: LiveApi) -> None:
    alert = make_alert(ref_id=TENANT_A)
    store_batch(live_api.engine, [alert])
    open_incident(live_api.engine, alert["alert_uuid"], actor="ana", comment="looks real")
    run_id = str(uuid.uuid4())
    with live_api.engine.begin() as conn:
        conn.execute(
            PlaybookRun.__table__.insert().values(
                alert_uuid=alert["alert_uuid"],
                profile="p1",
                deployment="block-attacker/default",
                flow_run_id=run_id,
                state="COMPLETED",
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
    body = live_api.client("analyst-a").get(f"/api/v1/alerts/{alert['alert_uuid']}/response").json()
    assert body["incident"]["state"] == "new"
    assert [(h["actor"], h["to_state"], h["comment"]) for h in body["incident"]["history"]] == [
        ("ana", "new", "looks real")
    ]
    assert body["playbook_runs"][0]["ui_url"] == f"http://127.0.0.1:4200/runs/flow-run/{run_id}"
    assert body["playbook_runs"][0]["deployment"] == "block-attacker/default"


def test_the_response_of_an_alert_shows_a_crashed_run_as_needing_a_human_and_a_repeat_as_such(
    live_api: LiveApi,
) -> None:
    alert = make_alert(ref_id=TENANT_A)
    store_batch(live_api.engine, [alert])
    crashed, repeat = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    with live_api.engine.begin() as conn:
        conn.execute(
            PlaybookRun.__table__.insert(),
            [
                {
                    "alert_uuid": alert["alert_uuid"],
                    "created_at": now,
                    "updated_at": now,
                    "profile": profile,
                    "deployment": deployment,
                    "flow_run_id": flow_run_id,
                    "state": state,
                    "rerun_of": rerun_of,
                }
                for profile, deployment, flow_run_id, state, rerun_of in (
                    ("once", "malware-triage/response", crashed, "CRASHED", None),
                    ("again", "block-attacker/response", repeat, "COMPLETED", str(uuid.uuid4())),
                )
            ],
        )
    body = live_api.client("analyst-a").get(f"/api/v1/alerts/{alert['alert_uuid']}/response").json()
    runs = {r["profile"]: r for r in body["playbook_runs"]}
    assert (runs["once"]["state"], runs["once"]["needs_human"], runs["once"]["rerun_of"]) == (
        "CRASHED",
        True,
        None,
    )
    assert (runs["again"]["needs_human"], runs["again"]["flow_run_id"]) == (False, repeat)
    assert runs["again"]["rerun_of"] is not None
