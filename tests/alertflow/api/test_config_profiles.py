"""Categories, category profiles, user groups and response profiles through the live API: CRUD, the import's
validation as 422s naming the field, 409 and 404, the audit trail, and who may change global configuration."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from alertflow.api import accounts
from alertmodel import AuditEntry
from alertmodel.errors import ConfigurationError
from response.profiles import parse_profiles, profiles_fingerprint, read_profiles, store_profiles

from .conftest import PASSWORD, TENANT_A, LiveApi

ADMIN_A = "admin-a"


@pytest.fixture(scope="module", autouse=True)
def tenant_bound_admin(live_api: LiveApi) -> None:
    accounts.add_user(
        live_api.engine, ADMIN_A, role="admin", password=PASSWORD, tenants=[TENANT_A], actor="t"
    )


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _audit(live_api: LiveApi, target: str) -> list[tuple[str, str, Any, Any]]:
    table = AuditEntry.__table__
    with live_api.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.target == target).order_by(table.c.id)).all()
    return [(r.actor, r.action, r.before, r.after) for r in rows]


def _locs(response: Any) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [e["loc"] for e in response.json()["detail"]]


# -- categories ------------------------------------------------------------------------------


def test_an_admin_creates_a_category_that_is_listed_and_audited(live_api: LiveApi) -> None:
    name = _name("cat")
    with live_api.client("admin") as admin:
        created = admin.post(
            "/api/v1/categories", json={"name": name, "source_type": "Wazuh", "description": "d"}
        )
        assert created.status_code == 201, created.text
        again = admin.post("/api/v1/categories", json={"name": name, "source_type": "Wazuh"})
        other_source = admin.post("/api/v1/categories", json={"name": name, "source_type": "Falco"})
    assert again.status_code == 409 and name in again.json()["detail"]
    assert other_source.status_code == 201  # a category name is unique per source type
    with live_api.client("viewer") as viewer:
        listed = viewer.get("/api/v1/categories", params={"source_type": "Wazuh"}).json()
    assert [c["description"] for c in listed if c["name"] == name] == ["d"]
    assert {c["source_type"] for c in listed} == {"Wazuh"}
    body = created.json()
    assert _audit(live_api, f"category/{body['id']}") == [("admin", "category.create", None, body)]


def test_categories_registered_by_ingest_are_listed(live_api: LiveApi) -> None:
    with live_api.client("viewer-b") as viewer:  # global: a tenant-bound viewer reads them too
        listed = viewer.get("/api/v1/categories", params={"source_type": "Suricata"})
    assert listed.status_code == 200 and listed.json(), "the Suricata samples registered categories"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"source_type": "Wazuh"}, ["body", "name"]),
        ({"name": "", "source_type": "Wazuh"}, ["body", "name"]),
        ({"name": "n", "source_type": "x" * 33}, ["body", "source_type"]),
        ({"name": "n", "source_type": "Wazuh", "colour": "red"}, ["body", "colour"]),
    ],
)
def test_an_invalid_category_is_a_422_naming_the_field(
    live_api: LiveApi, body: dict[str, Any], loc: list[Any]
) -> None:
    with live_api.client("admin") as admin:
        assert loc in _locs(admin.post("/api/v1/categories", json=body))


# -- category profiles and user groups --------------------------------------------------------


def test_a_category_profile_goes_through_create_read_replace_and_delete_with_its_audit(
    live_api: LiveApi,
) -> None:
    name = _name("cp")
    first = {"name": name, "source_type": "Suricata", "categories": ["Attempted Information Leak"]}
    second = {"name": name, "source_type": "Suricata", "categories": ["*"]}
    path = f"/api/v1/category-profiles/{name}"
    with live_api.client("admin") as admin:
        assert admin.post("/api/v1/category-profiles", json=first).status_code == 201
        assert admin.post("/api/v1/category-profiles", json=first).status_code == 409
        assert admin.get(path).json() == first
        assert admin.put(path, json=second).json() == second
        assert admin.get(path).json() == second
        assert admin.delete(path).status_code == 204
        assert admin.get(path).status_code == 404
        assert admin.delete(path).status_code == 404
        assert admin.put(path, json=second).status_code == 404
    assert _audit(live_api, f"category-profile/{name}") == [
        ("admin", "category-profile.create", None, first),
        ("admin", "category-profile.update", first, second),
        ("admin", "category-profile.delete", second, None),
    ]


def test_a_user_group_goes_through_create_read_replace_and_delete(live_api: LiveApi) -> None:
    name = _name("ug")
    first = {"name": name, "emails": ["soc@example.org"], "phones": ["+15550100"], "slack_channel": "#soc"}
    second = {**first, "emails": [], "slack_channel": None}
    path = f"/api/v1/user-groups/{name}"
    with live_api.client("admin") as admin:
        assert admin.post("/api/v1/user-groups", json=first).json() == first
        assert name in [g["name"] for g in admin.get("/api/v1/user-groups").json()]
        assert admin.put(path, json=second).json() == second
        assert admin.delete(path).status_code == 204
    assert [a[1] for a in _audit(live_api, f"user-group/{name}")] == [
        "user-group.create",
        "user-group.update",
        "user-group.delete",
    ]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/v1/user-groups", {"name": "g", "emails": ["not-an-address"]}, ["body", "emails"]),
        ("/api/v1/user-groups", {"name": "g", "slack_channel": "#" * 256}, ["body", "slack_channel"]),
        ("/api/v1/user-groups", {"name": "g\ud800"}, ["body", "name"]),
        (
            "/api/v1/category-profiles",
            {"name": "c", "source_type": "Wazuh", "categories": []},
            ["body", "categories"],
        ),
        ("/api/v1/category-profiles", {"name": "c"}, ["body", "source_type"]),
    ],
)
def test_an_invalid_group_or_category_profile_is_a_422_naming_the_field(
    live_api: LiveApi, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    content = json.dumps(body)  # ASCII-escaped, so a lone surrogate reaches the server as JSON allows
    with live_api.client("admin") as admin:
        assert loc in _locs(admin.post(path, content=content, headers={"content-type": "application/json"}))


def test_a_replace_must_keep_the_name_of_its_path(live_api: LiveApi) -> None:
    name = _name("ug")
    with live_api.client("admin") as admin:
        admin.post("/api/v1/user-groups", json={"name": name})
        response = admin.put(f"/api/v1/user-groups/{name}", json={"name": name + "-renamed"})
    assert _locs(response) == [["body", "name"]]


def test_a_group_or_category_profile_a_response_profile_uses_cannot_be_deleted(live_api: LiveApi) -> None:
    group, categories, profile = _name("ug"), _name("cp"), _name("rp")
    with live_api.client("admin") as admin:
        admin.post("/api/v1/user-groups", json={"name": group, "emails": ["a@example.org"]})
        admin.post("/api/v1/category-profiles", json={"name": categories, "source_type": "Wazuh"})
        created = admin.post(
            "/api/v1/response-profiles",
            json={
                "name": profile,
                "match": {"category_profile": categories},
                "actions": [{"kind": "email", "group": group}],
            },
        )
        assert created.status_code == 201, created.text
        for path in (f"/api/v1/user-groups/{group}", f"/api/v1/category-profiles/{categories}"):
            refused = admin.delete(path)
            assert refused.status_code == 409 and profile in refused.json()["detail"]
        assert admin.delete(f"/api/v1/response-profiles/{profile}").status_code == 204
        assert admin.delete(f"/api/v1/user-groups/{group}").status_code == 204
        assert admin.delete(f"/api/v1/category-profiles/{categories}").status_code == 204


# -- response profiles ------------------------------------------------------------------------


def test_a_response_profile_round_trips_as_the_import_stores_it_and_running_matchers_notice(
    live_api: LiveApi,
) -> None:
    name = _name("rp")
    body = {
        "name": name,
        "match": {"source": "Suricata", "event": "2100498", "severity": 3, "description_regex": "(?i)scan"},
        "rate_limit": {"max": 3, "per_seconds": 600, "key": "srcip"},
        "group": {"key": "srcip", "window_seconds": 300},
        "actions": [{"kind": "playbook", "deployment": "block-ip/default"}, {"kind": "incident"}],
    }
    with live_api.engine.connect() as conn:
        before = profiles_fingerprint(conn)
    with live_api.client("admin") as admin:
        created = admin.post("/api/v1/response-profiles", json=body)
        assert created.status_code == 201, created.text
        shown = admin.get(f"/api/v1/response-profiles/{name}").json()
    with live_api.engine.connect() as conn:
        stored = next(p for p in read_profiles(conn).response_profiles if p.name == name)
        assert profiles_fingerprint(conn) != before
    assert shown == created.json() == stored.model_dump(mode="json")
    assert parse_profiles({"response_profiles": [body]}, origin="t").response_profiles[0] == stored
    assert _audit(live_api, f"response-profile/{name}") == [("admin", "response-profile.create", None, shown)]
    with live_api.client("admin") as admin:
        replaced = admin.put(f"/api/v1/response-profiles/{name}", json={**body, "enabled": False})
        assert replaced.status_code == 200 and replaced.json()["enabled"] is False
        with live_api.engine.connect() as conn:
            after_update = profiles_fingerprint(conn)
        assert admin.delete(f"/api/v1/response-profiles/{name}").status_code == 204
    with live_api.engine.connect() as conn:
        assert profiles_fingerprint(conn) != after_update
    actions = [a[1] for a in _audit(live_api, f"response-profile/{name}")]
    assert actions == ["response-profile.create", "response-profile.update", "response-profile.delete"]


INVALID_PROFILES = [
    ({"match": {"severity": 9}}, ["body", "match", "severity"], "match.severity"),
    (
        {"match": {"description_regex": "("}},
        ["body", "match", "description_regex"],
        "match.description_regex",
    ),
    ({"match": {"source": "Wazuh"}}, ["body", "match"], "match"),
    ({"match": {"hours": {"start": 3, "end": 3}}}, ["body", "match", "hours"], "match.hours"),
    ({"rate_limit": {"max": 0, "per_seconds": 1}}, ["body", "rate_limit", "max"], "rate_limit.max"),
    ({"group": {"key": "colour", "window_seconds": 5}}, ["body", "group", "key"], "group.key"),
    ({"actions": []}, ["body", "actions"], "actions"),
    (
        {"actions": [{"kind": "playbook", "deployment": "a/b"}, {"kind": "playbook", "deployment": "c/d"}]},
        ["body", "actions"],
        "actions",
    ),
    (
        {"actions": [{"kind": "playbook", "deployment": "no-slash"}]},
        ["body", "actions", 0, "playbook", "deployment"],
        "actions[0].deployment",
    ),
    ({"actions": [{"kind": "fax"}]}, ["body", "actions", 0], "actions[0]"),
    ({"name": "has space"}, ["body", "name"], "name"),
    ({"colour": "red"}, ["body", "colour"], "colour"),
    (
        {"match": {"category_profile": "no-such-profile"}},
        ["body", "match", "category_profile"],
        "match.category_profile",
    ),
    (
        {"actions": [{"kind": "email", "group": "no-such-group"}]},
        ["body", "actions", 0, "group"],
        "actions[0].group",
    ),
]


@pytest.mark.parametrize(
    ("change", "loc", "import_path"), INVALID_PROFILES, ids=[p[2] for p in INVALID_PROFILES]
)
def test_a_response_profile_the_import_refuses_is_a_422_naming_the_field(
    live_api: LiveApi, change: dict[str, Any], loc: list[Any], import_path: str
) -> None:
    body = {"name": _name("rp"), "actions": [{"kind": "incident"}], **change}
    with live_api.client("admin") as admin:
        response = admin.post("/api/v1/response-profiles", json=body)
        assert loc in _locs(response)
        assert admin.get(f"/api/v1/response-profiles/{body['name']}").status_code in (404, 422)
    where = re.escape(f"response_profiles[0].{import_path}:")
    # the import refuses the same document at the same place
    with pytest.raises(ConfigurationError, match=where), live_api.engine.begin() as conn:
        store_profiles(conn, parse_profiles({"response_profiles": [body]}, origin="f.yaml"), origin="f.yaml")


def test_unknown_names_are_404_for_every_kind(live_api: LiveApi) -> None:
    with live_api.client("admin") as admin:
        for kind in ("category-profiles", "user-groups", "response-profiles"):
            for method in ("GET", "DELETE"):
                response = admin.request(method, f"/api/v1/{kind}/nothing-here")
                assert response.status_code == 404 and "nothing-here" in response.json()["detail"]


# -- who may change global configuration ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/categories", {"name": "c", "source_type": "Wazuh"}),
        ("/api/v1/category-profiles", {"name": "c", "source_type": "Wazuh"}),
        ("/api/v1/user-groups", {"name": "g"}),
        ("/api/v1/response-profiles", {"name": "r", "actions": [{"kind": "incident"}]}),
    ],
)
def test_a_tenant_bound_admin_reads_global_configuration_but_cannot_change_it(
    live_api: LiveApi, path: str, body: dict[str, Any]
) -> None:
    with live_api.client(ADMIN_A) as admin_a:
        assert admin_a.get(path).status_code == 200
        refused = admin_a.post(path, json=body)
    assert refused.status_code == 403 and "bound" in refused.json()["detail"]


def test_json_types_are_taken_strictly_where_the_yaml_import_would_coerce(live_api: LiveApi) -> None:
    body = {"name": _name("rp"), "match": {"severity": False}, "actions": [{"kind": "incident"}]}
    assert parse_profiles({"response_profiles": [body]}, origin="f").response_profiles[0].match.severity == 0
    with live_api.client("admin") as admin:
        assert _locs(admin.post("/api/v1/response-profiles", json=body)) == [["body", "match", "severity"]]
        quoted = {**body, "match": {"severity": "3"}}
        assert _locs(admin.post("/api/v1/response-profiles", json=quoted)) == [["body", "match", "severity"]]
