"""Every route of the OpenAPI document, table-driven: refused without credentials, and each role and
tenant gets exactly what it should (a role below the route's is 403, another tenant's object is 404)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from alertflow.api import accounts
from alertflow.up.prefect_server import LocalPrefectServer, free_port
from alertmodel import ROLES, Outbox
from ingest.policy_source import store_policy
from response.incidents import change_state, open_incident, store_external_ref
from response.outbox_writer import ResponseHook
from response.profiles import ProfileFile, store_profiles
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.conftest import SmtpSink
from tests.integration.response.playbooks import record_alert
from tests.integration.response.test_notifications import save_smtp_block

from .approval_runs import paused_run
from .conftest import TENANT_A, TENANT_B, USERS, LiveApi
from .ops import dead_letter

ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/health"): "viewer",
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/api/v1/alerts/export"): "viewer",
    ("GET", "/api/v1/alerts/{alert_uuid}"): "viewer",
    ("GET", "/api/v1/alerts/{alert_uuid}/related"): "viewer",
    ("GET", "/api/v1/alerts/{alert_uuid}/response"): "viewer",
    ("GET", "/api/v1/dashboard"): "viewer",
    ("GET", "/api/v1/incidents"): "viewer",
    ("GET", "/api/v1/incidents/stats"): "viewer",
    ("GET", "/api/v1/incidents/{incident_id}"): "viewer",
    ("POST", "/api/v1/incidents"): "analyst",
    ("POST", "/api/v1/incidents/{incident_id}/state"): "analyst",
    ("POST", "/api/v1/incidents/{incident_id}/notes"): "analyst",
    ("GET", "/api/v1/approvals"): "viewer",
    ("POST", "/api/v1/approvals/{flow_run_id}"): "analyst",
    ("GET", "/api/v1/me"): "viewer",
    ("GET", "/api/v1/me/tokens"): "viewer",
    ("POST", "/api/v1/me/tokens"): "viewer",
    ("DELETE", "/api/v1/me/tokens/{token_id}"): "viewer",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{name}"): "admin",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/metrics"): "admin",
    ("GET", "/api/v1/categories"): "viewer",
    ("POST", "/api/v1/categories"): "admin",
    ("GET", "/api/v1/category-profiles"): "viewer",
    ("POST", "/api/v1/category-profiles"): "admin",
    ("GET", "/api/v1/category-profiles/{name}"): "viewer",
    ("PUT", "/api/v1/category-profiles/{name}"): "admin",
    ("DELETE", "/api/v1/category-profiles/{name}"): "admin",
    ("GET", "/api/v1/user-groups"): "viewer",
    ("POST", "/api/v1/user-groups"): "admin",
    ("GET", "/api/v1/user-groups/{name}"): "viewer",
    ("PUT", "/api/v1/user-groups/{name}"): "admin",
    ("DELETE", "/api/v1/user-groups/{name}"): "admin",
    ("GET", "/api/v1/response-profiles"): "viewer",
    ("POST", "/api/v1/response-profiles"): "admin",
    ("GET", "/api/v1/response-profiles/{name}"): "viewer",
    ("PUT", "/api/v1/response-profiles/{name}"): "admin",
    ("DELETE", "/api/v1/response-profiles/{name}"): "admin",
    ("GET", "/api/v1/filter-policies"): "viewer",
    ("GET", "/api/v1/filter-policies/{node}/versions"): "viewer",
    ("POST", "/api/v1/filter-policies/{node}/versions"): "admin",
    ("GET", "/api/v1/filter-policies/{node}/versions/{version}"): "viewer",
    ("GET", "/api/v1/filter-policies/{node}/diff"): "viewer",
    ("POST", "/api/v1/filter-policies/{node}/versions/{version}/activate"): "admin",
    ("POST", "/api/v1/filter-policies/{node}/rollback"): "admin",
    ("GET", "/api/v1/dead-letters"): "viewer",
    ("GET", "/api/v1/dead-letters/{dead_letter_id}"): "viewer",
    ("POST", "/api/v1/dead-letters/{dead_letter_id}/reingest"): "admin",
    ("GET", "/api/v1/outbox"): "viewer",
    ("GET", "/api/v1/outbox/{outbox_id}"): "viewer",
    ("POST", "/api/v1/outbox/{outbox_id}/retry"): "analyst",
    ("GET", "/api/v1/playbooks"): "viewer",
    ("POST", "/api/v1/alerts/{alert_uuid}/playbook-runs"): "analyst",
    ("POST", "/api/v1/incidents/{incident_id}/notify"): "analyst",
    ("POST", "/api/v1/incidents/{incident_id}/escalate"): "analyst",
    ("GET", "/alertflex-ctrl/rest/stix-alerts/status"): "viewer",
    ("GET", "/alertflex-ctrl/rest/stix-alerts/search"): "viewer",
}
"""The smallest role each operation needs; a route missing here fails the completeness test."""


@dataclass
class OutsideWorld:
    """What the routes that reach Prefect, SMTP and JIRA need: a deployment, an SMTP block, a user group."""

    deployment: str = ""
    smtp_block: str = ""
    group: str = ""


OUTSIDE = OutsideWorld()
ROLES_PROFILE = "roles-jira"


@pytest.fixture(scope="module", autouse=True)
def outside_world(live_api: LiveApi, prefect_server: LocalPrefectServer) -> Iterator[OutsideWorld]:
    """A deployment that takes `alert`, an SMTP server with its block, and a user group, for `build`."""
    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    suffix = uuid.uuid4().hex[:6]

    async def apply() -> None:
        await (await record_alert.ato_deployment(name=f"roles-{suffix}")).aapply()

    asyncio.run(apply())
    OUTSIDE.deployment = f"record-alert/roles-{suffix}"
    OUTSIDE.smtp_block = asyncio.run(save_smtp_block(sink))
    OUTSIDE.group = f"roles-{suffix}"
    import_profiles(
        live_api.engine,
        {
            "user_groups": [{"name": OUTSIDE.group, "emails": ["soc@example.org"]}],
            "response_profiles": [{"name": ROLES_PROFILE, "actions": [{"kind": "jira", "block": "nowhere"}]}],
        },
    )
    try:
        yield OUTSIDE
    finally:
        controller.stop()


def _alert(live_api: LiveApi, tenant: str) -> str:
    row = make_alert(ref_id=tenant)
    store_batch(live_api.engine, [row])
    return str(row["alert_uuid"])


def _failed_outbox_row(live_api: LiveApi, tenant: str) -> int:
    """An outbox row of a fresh alert of `tenant`, as the response hook writes it, then failed."""
    alert = make_alert(ref_id=tenant, action=ROLES_PROFILE)
    store_batch(live_api.engine, [alert], ResponseHook())
    table = Outbox.__table__
    with live_api.engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.key.like(f"{alert['alert_uuid']}:%"))
            .values(state="failed", attempts=8, last_error="IntegrationError: JIRA answered 503")
        )
        return int(
            conn.execute(select(table.c.id).where(table.c.key.like(f"{alert['alert_uuid']}:%"))).scalar_one()
        )


def _incident(live_api: LiveApi, tenant: str) -> int:
    incident = open_incident(live_api.engine, _alert(live_api, tenant), actor="setup")
    assert incident.id is not None
    change_state(live_api.engine, incident.id, "in_progress", actor="setup")
    return incident.id


def _config_item(live_api: LiveApi, path: str) -> tuple[str, dict[str, Any]]:
    """A fresh stored category profile, user group or response profile for `path`: its name and body."""
    name = f"x-{uuid.uuid4().hex[:10]}"
    spec: dict[str, Any]
    if path.startswith("/api/v1/category-profiles/"):
        spec = {"name": name, "source_type": "Suricata", "categories": ["*"]}
        profiles = ProfileFile.model_validate({"category_profiles": [spec]})
    elif path.startswith("/api/v1/user-groups/"):
        spec = {"name": name, "emails": ["soc@example.org"], "phones": [], "slack_channel": None}
        profiles = ProfileFile.model_validate({"user_groups": [spec]})
    else:
        spec = {"name": name, "actions": [{"kind": "incident"}]}
        profiles = ProfileFile.model_validate({"response_profiles": [spec]})
    with live_api.engine.begin() as conn:
        store_profiles(conn, profiles, origin="setup")
    return name, spec


def _policy_node(live_api: LiveApi, tenant: str) -> str:
    """A fresh node with two versions of a policy of `tenant`, the second active."""
    node = f"node-{uuid.uuid4().hex[:10]}"
    store_policy(live_api.engine, node, {"filter_name": "one", "ref_id": tenant})
    store_policy(live_api.engine, node, {"filter_name": "two", "ref_id": tenant})
    return node


def build(live_api: LiveApi, op: tuple[str, str], user: str, tenant: str) -> tuple[str, Any]:
    """A request for `op` that succeeds for an allowed caller, on a fresh object of `tenant`."""
    _method, path = op
    body: Any = None
    if "{node}" in path:
        path = path.replace("{node}", _policy_node(live_api, tenant)).replace("{version}", "1")
        if path.endswith("/diff"):
            path += "?from=1&to=2"
        elif op[0] == "POST" and path.endswith("/versions"):
            body = {"filter_name": "three", "ref_id": tenant}
        return path, body
    if "{name}" in path and not path.startswith("/api/v1/users/"):
        name, spec = _config_item(live_api, path)
        return path.replace("{name}", name), (spec if op[0] == "PUT" else None)
    fresh = f"x-{uuid.uuid4().hex[:10]}"
    if op == ("POST", "/api/v1/categories"):
        return path, {"name": fresh, "source_type": "Suricata"}
    if op == ("POST", "/api/v1/category-profiles"):
        return path, {"name": fresh, "source_type": "Wazuh", "categories": ["sshd"]}
    if op == ("POST", "/api/v1/user-groups"):
        return path, {"name": fresh, "emails": ["soc@example.org"]}
    if op == ("POST", "/api/v1/response-profiles"):
        return path, {"name": fresh, "match": {"severity": 3}, "actions": [{"kind": "incident"}]}
    if "{alert_uuid}" in path:
        path = path.replace("{alert_uuid}", _alert(live_api, tenant))
    if "{incident_id}" in path:
        incident_id = _incident(live_api, tenant)
        path = path.replace("{incident_id}", str(incident_id))
        if path.endswith("/escalate"):  # sent once already: the call answers with the stored key
            store_external_ref(live_api.engine, incident_id, "jira_key", "SEC-1", actor="setup")
            body = {"to": "jira", "block": "unused"}
        elif path.endswith("/notify"):
            body = {"group": OUTSIDE.group, "via": "email", "block": OUTSIDE.smtp_block}
    if "{dead_letter_id}" in path:
        dead_id, whole = dead_letter(live_api.engine)
        path = path.replace("{dead_letter_id}", str(dead_id))
        body = {"content": whole.decode(), "node": "edge-1"} if path.endswith("/reingest") else None
    if "{outbox_id}" in path:
        path = path.replace("{outbox_id}", str(_failed_outbox_row(live_api, tenant)))
    if path.endswith("/playbook-runs"):
        body = {"deployment": OUTSIDE.deployment}
    if "{flow_run_id}" in path:
        path = path.replace("{flow_run_id}", str(paused_run(_alert(live_api, tenant), tenant)))
        body = {"approved": True, "reason": "looked at it"}
    if "{token_id}" in path:
        issued = accounts.create_token(live_api.engine, user, expires_in=timedelta(days=1), actor="setup")
        path = path.replace("{token_id}", str(issued.id))
    if "{name}" in path:
        path = path.replace("{name}", "viewer-b")
        body = {"tenants": [TENANT_B]}
    if op == ("POST", "/api/v1/incidents"):
        body = {"alert_uuid": _alert(live_api, tenant), "comment": "seen"}
    elif path.endswith("/state"):
        body = {"state": "resolved", "comment": "done"}
    elif path.endswith("/notes"):
        body = {"comment": "note"}
    elif op == ("POST", "/api/v1/me/tokens"):
        body = {"name": "t"}
    elif op == ("POST", "/api/v1/users"):
        body = {"name": f"u-{uuid.uuid4().hex[:8]}", "role": "viewer", "password": "long enough pw"}
    elif op == ("GET", "/alertflex-ctrl/rest/stix-alerts/search"):
        where = f"a.alertUuid = '{_alert(live_api, tenant)}'"
        path += "?" + urlencode({"query": "SELECT a FROM Alert a WHERE " + where})  # noqa: S608 (STIX dialect)
    return path, body


def call(live_api: LiveApi, user: str | None, method: str, path: str, body: Any) -> int:
    with live_api.client(user) as client:
        return client.request(method, path, json=body).status_code


def test_the_table_lists_every_operation_of_the_openapi_document(live_api: LiveApi) -> None:
    document = live_api.client("viewer").get("/api/v1/openapi.json").json()
    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert operations == set(ACCESS)


@pytest.mark.parametrize("op", list(ACCESS), ids=[f"{m} {p}" for m, p in ACCESS])
def test_every_operation_refuses_a_caller_without_credentials(live_api: LiveApi, op: tuple[str, str]) -> None:
    path, body = build(live_api, op, "admin", TENANT_A)
    assert call(live_api, None, op[0], path, body) == 401


@pytest.mark.parametrize(
    ("op", "role"),
    list(itertools.product(ACCESS, ROLES)),
    ids=[f"{m} {p} as {r}" for (m, p), r in itertools.product(ACCESS, ROLES)],
)
def test_each_role_gets_exactly_the_operations_of_its_rank(
    live_api: LiveApi, op: tuple[str, str], role: str
) -> None:
    path, body = build(live_api, op, role, TENANT_A)
    status = call(live_api, role, op[0], path, body)
    if ROLES.index(role) >= ROLES.index(ACCESS[op]):
        assert status in (200, 201, 204), f"{role} {op}: {status}"
    else:
        assert status == 403, f"{role} {op}: {status}"


TENANT_SCOPED = [
    op
    for op in ACCESS
    if any(
        part in op[1] for part in ("{alert_uuid}", "{incident_id}", "{node}", "{outbox_id}", "{flow_run_id}")
    )
] + [("POST", "/api/v1/incidents")]


@pytest.mark.parametrize(("op"), TENANT_SCOPED, ids=[f"{m} {p}" for m, p in TENANT_SCOPED])
@pytest.mark.parametrize("user", ["analyst-a", "viewer-b"])
def test_a_tenant_bound_user_gets_its_own_tenants_objects_and_404_for_the_others(
    live_api: LiveApi, op: tuple[str, str], user: str
) -> None:
    role, (own,) = USERS[user]
    other = TENANT_B if own == TENANT_A else TENANT_A
    allowed = ROLES.index(role) >= ROLES.index(ACCESS[op])
    own_status = (201 if op == ("POST", "/api/v1/incidents") else 200) if allowed else 403
    path, body = build(live_api, op, user, own)
    assert call(live_api, user, op[0], path, body) == own_status
    path, body = build(live_api, op, user, other)
    assert call(live_api, user, op[0], path, body) == (404 if allowed else 403)
