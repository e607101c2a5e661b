"""Filter policy versions through the live API: upload validated as the CLI does, list, show, diff,
activate and roll back, the audit trail, tenants, and a running ingest worker taking up an activation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from alertflow.api import accounts
from alertmodel import Alert, AuditEntry
from alertmodel.errors import ConfigurationError
from ingest.core import IngestCore
from ingest.delivery import Delivery
from ingest.policy import parse_policy
from ingest.policy_source import DatabasePolicy, store_policy
from ingest.worker import Worker
from tests.ingest.events import suricata_alerts, wait_for

from .conftest import PASSWORD, TENANT_A, TENANT_B, LiveApi

ADMIN_A = "policy-admin-a"


@pytest.fixture(scope="module", autouse=True)
def tenant_bound_admin(live_api: LiveApi) -> None:
    accounts.add_user(
        live_api.engine, ADMIN_A, role="admin", password=PASSWORD, tenants=[TENANT_A], actor="t"
    )


def _node() -> str:
    return f"node-{uuid.uuid4().hex[:8]}"


def _upload(live_api: LiveApi, node: str, body: dict[str, Any], *, activate: bool = False) -> dict[str, Any]:
    with live_api.client("admin") as admin:
        response = admin.post(
            f"/api/v1/filter-policies/{node}/versions", json=body, params={"activate": activate}
        )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _active(live_api: LiveApi, node: str) -> int | None:
    with live_api.client("viewer") as viewer:
        versions = viewer.get(f"/api/v1/filter-policies/{node}/versions").json()
    return next((v["version"] for v in versions if v["active"]), None)


def _audit(live_api: LiveApi, node: str) -> list[tuple[str, Any, Any]]:
    table = AuditEntry.__table__
    with live_api.engine.connect() as conn:
        rows = conn.execute(
            select(table).where(table.c.target == f"filter-policy/{node}").order_by(table.c.id)
        ).all()
    return [(r.action, r.before, r.after) for r in rows]


def test_an_upload_is_the_next_version_inactive_unless_asked_and_shown_with_its_body(
    live_api: LiveApi,
) -> None:
    node = _node()
    first = _upload(live_api, node, {"filter_name": "one", "ref_id": TENANT_A})
    second = _upload(live_api, node, {"filter_name": "two"}, activate=True)
    third = _upload(live_api, node, {"filter_name": "three"})
    assert [(v["version"], v["active"]) for v in (first, second, third)] == [
        (1, False),
        (2, True),
        (3, False),
    ]
    assert (first["filter_name"], first["ref_id"], second["ref_id"]) == ("one", TENANT_A, "indef")
    with live_api.client("viewer") as viewer:
        listed = viewer.get(f"/api/v1/filter-policies/{node}/versions").json()
        shown = viewer.get(f"/api/v1/filter-policies/{node}/versions/3").json()
        nodes = viewer.get("/api/v1/filter-policies").json()
    assert [v["version"] for v in listed] == [1, 2, 3]
    assert shown["body"] == {"filter_name": "three"} and shown["active"] is False
    assert {"node": node, "versions": 3, "latest_version": 3, "active_version": 2} in nodes
    assert [a[0] for a in _audit(live_api, node)] == ["filter_policy.upload"] * 3
    assert _audit(live_api, node)[1][1:] == (
        {"active_version": None},
        {"active_version": 2, "version": 2, "body": {"filter_name": "two"}},
    )


INVALID = [
    ({"home_net": "everything"}, ["body", "home_net"]),
    ({"home_net": [{"network": "10.0.0.300", "netmask": "8"}]}, ["body", "home_net", 0]),
    ({"sources": {"hids": {"severity": {"level0": 9, "level1": 4, "level2": 1}}}}, ["body", "sources"]),
    (
        {"sources": {"nids": {"severity": {"threshold": 7, "level0": 1, "level1": 2, "level2": 3}}}},
        ["body", "sources", "nids", "severity", "threshold"],
    ),
    (
        {
            "sources": {
                "hids": {"severity": {"level0": 1, "level1": 2, "level2": 3}, "gray_list": [{"event": ""}]}
            }
        },
        ["body", "sources", "hids", "gray_list", 0, "event"],
    ),
    ({"filter_nmae": "typo"}, ["body", "filter_nmae"]),
]


@pytest.mark.parametrize(("body", "loc"), INVALID)
def test_a_policy_the_cli_refuses_is_a_422_naming_the_field_and_not_stored(
    live_api: LiveApi, body: dict[str, Any], loc: list[Any]
) -> None:
    node = _node()
    with pytest.raises(ConfigurationError):  # `alertflow policy validate/load` refuse it too
        parse_policy(body, origin="filters.json")
    with live_api.client("admin") as admin:
        response = admin.post(f"/api/v1/filter-policies/{node}/versions", json=body)
        assert response.status_code == 422, response.text
        assert loc in [e["loc"] for e in response.json()["detail"]]
        assert admin.get(f"/api/v1/filter-policies/{node}/versions").status_code == 404


def test_activating_a_version_makes_it_the_only_active_one_and_is_audited(live_api: LiveApi) -> None:
    node = _node()
    for name in ("one", "two"):
        _upload(live_api, node, {"filter_name": name}, activate=True)
    with live_api.client("admin") as admin:
        response = admin.post(f"/api/v1/filter-policies/{node}/versions/1/activate")
        assert response.status_code == 200 and response.json()["active"] is True
        assert admin.post(f"/api/v1/filter-policies/{node}/versions/9/activate").status_code == 404
        assert admin.post(f"/api/v1/filter-policies/{_node()}/versions/1/activate").status_code == 404
    assert _active(live_api, node) == 1
    assert _audit(live_api, node)[-1] == (
        "filter_policy.activate",
        {"active_version": 2},
        {"active_version": 1},
    )


def test_rollback_activates_the_version_that_was_active_before(live_api: LiveApi) -> None:
    node = _node()
    _upload(live_api, node, {"filter_name": "one"}, activate=True)
    _upload(live_api, node, {"filter_name": "two"}, activate=True)
    _upload(live_api, node, {"filter_name": "three"})  # stored, never active
    with live_api.client("admin") as admin:
        admin.post(f"/api/v1/filter-policies/{node}/versions/3/activate")
        admin.post(f"/api/v1/filter-policies/{node}/versions/1/activate")
        back = admin.post(f"/api/v1/filter-policies/{node}/rollback")
        assert back.status_code == 200 and back.json()["version"] == 3  # not 2: 3 was active before 1
        again = admin.post(f"/api/v1/filter-policies/{node}/rollback")
        assert again.json()["version"] == 1  # a second rollback undoes the first
    assert _audit(live_api, node)[-1] == (
        "filter_policy.rollback",
        {"active_version": 3},
        {"active_version": 1},
    )


def test_rollback_after_an_activation_outside_the_api_takes_the_version_before_the_active_one(
    live_api: LiveApi,
) -> None:
    node = _node()
    _upload(live_api, node, {"filter_name": "one"}, activate=True)
    _upload(live_api, node, {"filter_name": "two"}, activate=True)
    store_policy(live_api.engine, node, {"filter_name": "three"})  # no audit entry: the log no longer says
    with live_api.client("admin") as admin:
        assert admin.post(f"/api/v1/filter-policies/{node}/rollback").json()["version"] == 2


def test_rollback_with_nothing_before_is_409_and_on_an_unknown_node_404(live_api: LiveApi) -> None:
    node = _node()
    _upload(live_api, node, {"filter_name": "only"}, activate=True)
    never_active = _node()
    _upload(live_api, never_active, {"filter_name": "idle"})
    with live_api.client("admin") as admin:
        first = admin.post(f"/api/v1/filter-policies/{node}/rollback")
        idle = admin.post(f"/api/v1/filter-policies/{never_active}/rollback")
        unknown = admin.post(f"/api/v1/filter-policies/{_node()}/rollback")
    assert first.status_code == 409 and "version 1" in first.json()["detail"]
    assert idle.status_code == 409 and "no active version" in idle.json()["detail"]
    assert unknown.status_code == 404
    assert _active(live_api, node) == 1


def test_the_diff_of_two_versions_lists_changed_paths_and_a_unified_diff(live_api: LiveApi) -> None:
    node = _node()
    gray = {"event": "5715", "response": {"new_severity": 1}}
    hids = {"severity": {"level0": 2, "level1": 4, "level2": 10}, "gray_list": [gray]}
    _upload(live_api, node, {"filter_name": "one", "sources": {"hids": hids}})
    changed_gray = {**gray, "response": {"new_severity": 3}}
    _upload(
        live_api,
        node,
        {"filter_name": "one", "ref_id": "t", "sources": {"hids": {**hids, "gray_list": [changed_gray]}}},
    )
    with live_api.client("viewer") as viewer:
        diff = viewer.get(f"/api/v1/filter-policies/{node}/diff", params={"from": 1, "to": 2})
        missing = viewer.get(f"/api/v1/filter-policies/{node}/diff", params={"from": 1, "to": 7})
        no_side = viewer.get(f"/api/v1/filter-policies/{node}/diff", params={"from": 1})
    assert diff.status_code == 200, diff.text
    assert diff.json()["changes"] == [
        {
            "path": "sources.hids.gray_list[0].response.new_severity",
            "change": "changed",
            "before": 1,
            "after": 3,
        },
        {"path": "ref_id", "change": "added", "before": None, "after": "t"},  # keys of the older side first
    ]
    unified = diff.json()["unified"]
    assert unified.startswith(f"--- {node} v1\n+++ {node} v2\n")
    assert '-            "new_severity": 1\n' in unified and '+            "new_severity": 3\n' in unified
    assert missing.status_code == 404 and "version 7" in missing.json()["detail"]
    assert no_side.status_code == 422 and ["query", "to"] in [e["loc"] for e in no_side.json()["detail"]]


def test_a_tenant_bound_user_sees_only_versions_of_its_tenants_and_changes_nothing(live_api: LiveApi) -> None:
    node = _node()
    _upload(live_api, node, {"filter_name": "a", "ref_id": TENANT_A}, activate=True)
    _upload(live_api, node, {"filter_name": "b", "ref_id": TENANT_B})
    with live_api.client("analyst-a") as analyst_a:
        versions = analyst_a.get(f"/api/v1/filter-policies/{node}/versions").json()
        other = analyst_a.get(f"/api/v1/filter-policies/{node}/versions/2")
        nodes = analyst_a.get("/api/v1/filter-policies").json()
    assert [v["version"] for v in versions] == [1] and other.status_code == 404
    assert {"node": node, "versions": 1, "latest_version": 1, "active_version": 1} in nodes
    with live_api.client(ADMIN_A) as admin_a:
        refused = admin_a.post(f"/api/v1/filter-policies/{node}/versions/1/activate")
        upload = admin_a.post(f"/api/v1/filter-policies/{node}/versions", json={"ref_id": TENANT_A})
    assert refused.status_code == 403 and upload.status_code == 403


def test_a_running_ingest_worker_takes_up_the_version_the_api_activates(live_api: LiveApi) -> None:
    node = _node()
    _upload(live_api, node, {"filter_name": "first"}, activate=True)
    _upload(live_api, node, {"filter_name": "second"})
    worker = Worker(
        live_api.engine,
        IngestCore(node=node),
        [],
        batch_wait_s=0.01,
        policy=DatabasePolicy(live_api.engine, node),
        policy_poll_s=0.05,
    )
    alerts = Alert.__table__
    query = select(alerts.c.filter).where(alerts.c.node_id == node).order_by(alerts.c.alert_id)

    def stored() -> list[str]:
        with live_api.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    worker.start()
    try:
        worker.inbox.put(Delivery(lines=suricata_alerts(1, f"{node}-1"), origin="t"))
        wait_for(lambda: len(stored()) == 1, what="the first alert")
        with live_api.client("admin") as admin:
            assert admin.post(f"/api/v1/filter-policies/{node}/versions/2/activate").status_code == 200
        wait_for(
            lambda: worker.core.policy is not None and worker.core.policy.filter_name == "second", what="swap"
        )
        worker.inbox.put(Delivery(lines=suricata_alerts(1, f"{node}-2"), origin="t"))
        wait_for(lambda: len(stored()) == 2, what="the second alert")
    finally:
        worker.request_stop()
        assert worker.wait(60)
    assert stored() == ["first", "second"]
