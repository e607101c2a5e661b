"""The configuration and operations pages over HTTP: roles, CSRF, tenants, validation naming the field, settings."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from alertflow.api import accounts, profile_store
from alertflow.console import dashboard
from alertmodel import AuditEntry, CategoryProfile, ResponseProfile, UserGroup
from alertmodel.account import ApiUser
from alertmodel.user_settings import DASHBOARD_WINDOWS, UserSettings
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.alertflow.api.conftest import PASSWORD, TENANT_A, TENANT_B
from tests.alertflow.api.ops import dead_letter

from .client import csrf_of, signed_in
from .conftest import LiveConsole

ADMIN_PAGES = [
    "/admin",
    "/admin/categories",
    "/admin/category-profiles",
    "/admin/response-profiles",
    "/admin/response-profiles/new",
    "/admin/user-groups",
    "/admin/users",
    "/admin/filter-policies",
    "/admin/category-profiles/stored-cats",
    "/admin/user-groups/stored-group",
]
STORED = {  # what the edit pages of ADMIN_PAGES show, stored before the role checks
    "category_profiles": [{"name": "stored-cats", "source_type": "Suricata", "categories": ["*"]}],
    "user_groups": [{"name": "stored-group", "emails": ["soc@example.org"]}],
}
ADMIN_FORMS = {
    "/admin/categories": {"name": "viewer-made", "source_type": "Suricata"},
    "/admin/category-profiles": {"name": "viewer-made", "source_type": "Suricata", "categories": "*"},
    "/admin/user-groups": {"name": "viewer-made", "emails": "x@example.org"},
    "/admin/response-profiles": {"profile": "name: viewer-made\nactions: [{kind: incident}]\n"},
    "/admin/users": {"name": "viewer-made", "role": "admin", "password": "a long password"},
    "/admin/users/viewer": {"role": "admin"},
    "/admin/filter-policies": {"node": "viewer-made", "body": "{}"},
    "/admin/category-profiles/stored-cats": {"source_type": "Wazuh", "categories": "viewer-made"},
    "/admin/user-groups/stored-group": {"emails": "viewer-made@example.org"},
}


def _count(live: LiveConsole, table: object, *where: object) -> int:
    with live.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("user", ["viewer", "analyst", "analyst-a"])
def test_only_an_admin_reaches_the_configuration_pages_or_posts_their_forms(
    live_console: LiveConsole, user: str
) -> None:
    import_profiles(live_console.engine, STORED)
    client = signed_in(live_console.base_url, user)
    home = client.get("/").text
    assert 'href="/admin"' not in home
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    audit_before = _count(live_console, AuditEntry.__table__)
    for forged in (csrf_of(home), "forged-token", ""):  # the user's own valid token, a forged one, none
        for path, form in ADMIN_FORMS.items():
            response = client.post(path, data={**form, "csrf_token": forged})
            assert response.status_code == 403, (path, forged)
    assert _count(live_console, AuditEntry.__table__) == audit_before
    assert profile_store.get_item(live_console.engine, "category_profiles", "stored-cats").categories == ["*"]
    with live_console.engine.connect() as conn:
        assert conn.execute(
            select(ApiUser.__table__.c.role).where(ApiUser.__table__.c.name == "viewer")
        ).scalar() == ("viewer")
    admin = signed_in(live_console.base_url, "admin")
    assert 'href="/admin"' in admin.get("/").text
    for path in ADMIN_PAGES:
        assert admin.get(path).status_code == 200, path


def test_an_admin_post_with_a_forged_token_or_from_another_origin_is_refused(
    live_console: LiveConsole,
) -> None:
    admin = signed_in(live_console.base_url, "admin")
    token = csrf_of(admin.get("/admin/categories").text)
    form = {"name": "forged-post", "source_type": "Suricata"}
    assert admin.post("/admin/categories", data={**form, "csrf_token": "forged"}).status_code == 403
    other = signed_in(live_console.base_url, "admin")
    other_token = csrf_of(other.get("/admin/categories").text)
    assert admin.post("/admin/categories", data={**form, "csrf_token": other_token}).status_code == 403
    cross = admin.post(
        "/admin/categories", data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert "forged-post" not in admin.get("/admin/categories").text
    import_profiles(live_console.engine, STORED)
    audit_before = _count(live_console, AuditEntry.__table__)
    for path, edit in [
        ("/admin/category-profiles/stored-cats", {"source_type": "Wazuh", "categories": "forged"}),
        ("/admin/user-groups/stored-group", {"emails": "forged@example.org"}),
    ]:
        for forged in ("forged", other_token, ""):
            assert admin.post(path, data={**edit, "csrf_token": forged}).status_code == 403, (path, forged)
        cross = admin.post(
            path, data={**edit, "csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403, path
    assert _count(live_console, AuditEntry.__table__) == audit_before


def test_a_tenant_bound_admin_reads_the_configuration_but_cannot_change_it(live_console: LiveConsole) -> None:
    engine = live_console.engine
    if accounts.principal_of(engine, "admin-a") is None:
        accounts.add_user(
            engine, "admin-a", role="admin", password=PASSWORD, tenants=[TENANT_A], actor="test"
        )
    client = signed_in(live_console.base_url, "admin-a")
    page = client.get("/admin/category-profiles")
    assert page.status_code == 200
    response = client.post(
        "/admin/category-profiles",
        data={
            "csrf_token": csrf_of(page.text),
            "name": "bound-made",
            "source_type": "Suricata",
            "categories": "*",
        },
    )
    assert response.status_code == 403 and "bound to no tenant" in response.text
    assert (
        _count(live_console, CategoryProfile.__table__, CategoryProfile.__table__.c.name == "bound-made") == 0
    )
    import_profiles(live_console.engine, STORED)
    assert client.get("/admin/user-groups/stored-group").status_code == 200
    for path, edit in [
        ("/admin/category-profiles/stored-cats", {"source_type": "Wazuh", "categories": "bound"}),
        ("/admin/user-groups/stored-group", {"emails": "bound@example.org"}),
    ]:
        response = client.post(path, data={**edit, "csrf_token": csrf_of(page.text)})
        assert response.status_code == 403 and "bound to no tenant" in response.text, path
    assert profile_store.get_item(live_console.engine, "user_groups", "stored-group").emails == [
        "soc@example.org"
    ]


def test_forms_show_the_error_next_to_the_field_it_names_and_store_nothing(live_console: LiveConsole) -> None:
    admin = signed_in(live_console.base_url, "admin")
    token = csrf_of(admin.get("/admin").text)
    bad_profile = "name: bad-severity\nmatch: {severity: 9}\nactions: [{kind: incident}]\n"
    response = admin.post("/admin/response-profiles", data={"csrf_token": token, "profile": bad_profile})
    assert response.status_code == 422
    error = re.search(r'<ul class="field-error" id="profile-error">(.*?)</ul>', response.text, re.S)
    assert error and "match.severity" in error.group(1)
    assert 'aria-describedby="profile-error"' in response.text
    assert "severity: 9" in response.text  # what was typed is kept
    dangling = "name: bad-group\nactions: [{kind: email, group: no-such-group}]\n"
    response = admin.post("/admin/response-profiles", data={"csrf_token": token, "profile": dangling})
    assert response.status_code == 422 and "actions[0].group: no user group" in response.text
    response = admin.post(
        "/admin/category-profiles", data={"csrf_token": token, "name": "", "source_type": "Suricata"}
    )
    assert response.status_code == 422
    assert re.search(r'id="name-error"><li>name: String should have at least 1 character', response.text)
    response = admin.post(
        "/admin/users", data={"csrf_token": token, "name": "bad name!", "role": "viewer", "password": "x"}
    )
    assert response.status_code == 422
    assert 'id="name-error"' in response.text and 'id="password-error"' in response.text
    response = admin.post(
        "/admin/filter-policies",
        data={"csrf_token": token, "node": "edge-9", "body": '{"sources": {"nids": {"log": "yes"}}}'},
    )
    assert (
        response.status_code == 422 and "sources.nids.log: Input should be a valid boolean" in response.text
    )
    response = admin.post("/admin/filter-policies", data={"csrf_token": token, "node": "edge-9", "body": "{"})
    assert response.status_code == 422 and "not valid JSON" in response.text
    with live_console.engine.connect() as conn:
        rsp = ResponseProfile.__table__
        assert (
            conn.execute(select(rsp.c.name).where(rsp.c.name.in_(["bad-severity", "bad-group"]))).all() == []
        )
    assert "edge-9" not in admin.get("/admin/filter-policies").text


def test_an_admin_creates_and_deletes_configuration_and_the_audit_log_names_them(
    live_console: LiveConsole,
) -> None:
    admin = signed_in(live_console.base_url, "admin")
    token = csrf_of(admin.get("/admin").text)
    created = admin.post(
        "/admin/user-groups",
        data={"csrf_token": token, "name": "night-shift", "emails": "a@example.org\nb@example.org"},
    )
    assert created.status_code == 303
    group = UserGroup.__table__
    with live_console.engine.connect() as conn:
        emails = conn.execute(select(group.c.emails).where(group.c.name == "night-shift")).scalar_one()
    assert emails == ["a@example.org", "b@example.org"]
    profile = "name: notify-night\nactions: [{kind: email, group: night-shift}]\n"
    assert (
        admin.post("/admin/response-profiles", data={"csrf_token": token, "profile": profile}).status_code
        == 303
    )
    refused = admin.post("/admin/user-groups/night-shift/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and "notify-night" in refused.text
    edited = admin.get("/admin/response-profiles/notify-night")
    assert "group: night-shift" in edited.text
    renamed = admin.post(
        "/admin/response-profiles/notify-night",
        data={"csrf_token": token, "profile": profile.replace("notify-night", "other-name")},
    )
    assert renamed.status_code == 422 and "must stay" in renamed.text
    assert (
        admin.post("/admin/response-profiles/notify-night/delete", data={"csrf_token": token}).status_code
        == 303
    )
    assert admin.post("/admin/user-groups/night-shift/delete", data={"csrf_token": token}).status_code == 303
    audit = admin.get("/audit").text
    assert "user-group.delete" in audit and "response-profile.create" in audit


def _audited(live: LiveConsole, action: str, target: str) -> list[tuple[str, object, object]]:
    table = AuditEntry.__table__
    with live.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.actor, table.c.before, table.c.after)
            .where(table.c.action == action, table.c.target == target)
            .order_by(table.c.id)
        ).all()
    return [tuple(r) for r in rows]


def test_an_admin_edits_a_category_profile_and_a_user_group_in_place_and_both_are_audited(
    live_console: LiveConsole,
) -> None:
    engine = live_console.engine
    admin = signed_in(live_console.base_url, "admin")
    token = csrf_of(admin.get("/admin").text)
    for path, form in [
        ("/admin/category-profiles", {"name": "edit-cats", "source_type": "Suricata", "categories": "*"}),
        ("/admin/user-groups", {"name": "edit-group", "emails": "a@example.org"}),
    ]:
        assert admin.post(path, data={"csrf_token": token, **form}).status_code == 303, path
    listed = admin.get("/admin/category-profiles").text
    assert 'href="/admin/category-profiles/edit-cats"' in listed
    assert 'href="/admin/user-groups/edit-group"' in admin.get("/admin/user-groups").text

    # the form shows what is stored; the name is the page's, not a field
    form = admin.get("/admin/category-profiles/edit-cats")
    assert form.status_code == 200 and 'action="/admin/category-profiles/edit-cats"' in form.text
    assert 'id="source_type" name="source_type" type="text" value="Suricata"' in form.text
    assert '<input id="name"' not in form.text
    # a bad edit: the error next to its field, what was typed kept, nothing stored or audited
    bad = admin.post(
        "/admin/category-profiles/edit-cats",
        data={"csrf_token": token, "source_type": "", "categories": "kept typing"},
    )
    assert bad.status_code == 422
    assert re.search(r'id="source_type-error"><li>source_type: String should have at least 1', bad.text)
    assert 'aria-describedby="source_type-hint source_type-error"' in bad.text and "kept typing" in bad.text
    assert profile_store.get_item(engine, "category_profiles", "edit-cats").source_type == "Suricata"
    # a good one (a posted name is not a field: the profile keeps its own)
    saved = admin.post(
        "/admin/category-profiles/edit-cats",
        data={
            "csrf_token": token,
            "name": "renamed",
            "source_type": "Wazuh",
            "categories": "web\n\n auth \n",
        },
    )
    assert (
        saved.status_code == 303 and saved.headers["location"] == "/admin/category-profiles?saved=edit-cats"
    )
    stored = profile_store.get_item(engine, "category_profiles", "edit-cats")
    assert (stored.source_type, stored.categories) == ("Wazuh", ["web", "auth"])
    assert _count(live_console, CategoryProfile.__table__, CategoryProfile.__table__.c.name == "renamed") == 0
    assert "Saved: edit-cats" in admin.get(saved.headers["location"]).text
    [(actor, before, after)] = _audited(live_console, "category-profile.update", "category-profile/edit-cats")
    assert actor == "admin" and before["source_type"] == "Suricata" and after["categories"] == ["web", "auth"]  # type: ignore[index]

    # a user group: a bad address is named, then the group is changed
    form = admin.get("/admin/user-groups/edit-group")
    assert form.status_code == 200 and ">a@example.org</textarea>" in form.text
    bad = admin.post(
        "/admin/user-groups/edit-group",
        data={"csrf_token": token, "emails": "not an address", "phones": "", "slack_channel": ""},
    )
    assert bad.status_code == 422 and 'id="emails-error"' in bad.text
    assert "is not an e-mail address" in bad.text and 'aria-invalid="true"' in bad.text
    saved = admin.post(
        "/admin/user-groups/edit-group",
        data={
            "csrf_token": token,
            "emails": "b@example.org\nc@example.org",
            "phones": "+15005550006",
            "slack_channel": " C0EDIT ",
        },
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/user-groups?saved=edit-group"
    group = profile_store.get_item(engine, "user_groups", "edit-group")
    assert (group.emails, group.phones, group.slack_channel) == (
        ["b@example.org", "c@example.org"],
        ["+15005550006"],
        "C0EDIT",
    )
    [(actor, before, after)] = _audited(live_console, "user-group.update", "user-group/edit-group")
    assert before["emails"] == ["a@example.org"] and after["slack_channel"] == "C0EDIT"  # type: ignore[index]
    assert "user-group.update" in admin.get("/audit").text

    # no such object: a 404 page, nothing stored
    assert admin.get("/admin/user-groups/no-such-group").status_code == 404
    missing = admin.post(
        "/admin/category-profiles/no-such-cats", data={"csrf_token": token, "source_type": "X"}
    )
    assert missing.status_code == 404 and "no category profile" in missing.text
    assert admin.get("/admin/category-profiles/" + "x" * 256).status_code == 404


def test_the_users_page_changes_a_user_and_never_shows_a_password_hash(live_console: LiveConsole) -> None:
    admin = signed_in(live_console.base_url, "admin")
    page = admin.get("/admin/users")
    assert "$argon2" not in page.text
    token = csrf_of(page.text)
    created = admin.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "name": "temp-user",
            "role": "viewer",
            "tenants": "t1, t2",
            "password": "a long password",
        },
    )
    assert created.status_code == 303
    changed = admin.post(
        "/admin/users/temp-user",
        data={"csrf_token": token, "role": "analyst", "tenants": "t2", "disabled": "on"},
    )
    assert changed.status_code == 303
    assert accounts.principal_of(live_console.engine, "temp-user") is None  # disabled
    row = next(u for u in accounts.list_users(live_console.engine) if u["name"] == "temp-user")
    assert row["role"] == "analyst" and row["tenants"] == ["t2"] and row["disabled"]
    self_demote = admin.post("/admin/users/admin", data={"csrf_token": token, "role": "viewer"})
    assert self_demote.status_code == 409
    assert "$argon2" not in admin.get("/admin/users").text


def test_filter_policy_versions_are_uploaded_diffed_activated_and_rolled_back(
    live_console: LiveConsole,
) -> None:
    admin = signed_in(live_console.base_url, "admin")
    token = csrf_of(admin.get("/admin/filter-policies").text)
    node = "edge <7>"
    for name, activate in (("first", "on"), ("second", "on")):
        body = json.dumps({"filter_name": name, "ref_id": "tenant-a", "home_net": []})
        response = admin.post(
            "/admin/filter-policies",
            data={"csrf_token": token, "node": node, "body": body, "activate": activate},
        )
        assert response.status_code == 303
    page = admin.get("/admin/filter-policies/" + quote(node, safe="")).text
    assert "edge &lt;7&gt;" in page and "<7>" not in page
    diff = admin.get(f"/admin/filter-policies/{quote(node, safe='')}/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200
    assert (
        "<code>filter_name</code>" in diff.text and "-  &#34;filter_name&#34;: &#34;first&#34;," in diff.text
    )
    rolled = admin.post(f"/admin/filter-policies/{quote(node, safe='')}/rollback", data={"csrf_token": token})
    assert rolled.status_code == 303
    versions = admin.get("/admin/filter-policies/" + quote(node, safe="")).text
    assert re.search(r"version 1</a></td>.*?<td>active</td>", versions, re.S)
    assert admin.get(f"/admin/filter-policies/{quote(node, safe='')}/versions/99").status_code == 404
    assert (
        admin.get(
            f"/admin/filter-policies/{quote(node, safe='')}/diff", params={"from": "x", "to": 1}
        ).status_code
        == 422
    )
    viewer_b = signed_in(live_console.base_url, "viewer-b")
    assert viewer_b.get("/admin/filter-policies/" + quote(node, safe="")).status_code == 403


def test_a_tenant_user_sees_no_dead_letter_and_only_its_own_tenants_outbox_rows(
    live_console: LiveConsole,
) -> None:
    dead_id, _ = dead_letter(live_console.engine)
    profile = "console-outbox"
    import_profiles(
        live_console.engine,
        {"response_profiles": [{"name": profile, "actions": [{"kind": "jira", "block": "nowhere"}]}]},
    )
    alerts = {tenant: make_alert(ref_id=tenant, action=profile) for tenant in (TENANT_A, TENANT_B)}
    from response.outbox_writer import ResponseHook

    store_batch(live_console.engine, list(alerts.values()), ResponseHook())
    admin = signed_in(live_console.base_url, "admin")
    assert f"/operations/dead-letters/{dead_id}" in admin.get("/operations/dead-letters").text
    assert admin.get(f"/operations/dead-letters/{dead_id}").status_code == 200
    every = admin.get("/operations/outbox", params={"state": "pending"}).text
    assert all(a["alert_uuid"] in every for a in alerts.values()), every[-3000:]
    for user, own in (("analyst-a", TENANT_A), ("viewer-b", TENANT_B)):
        client = signed_in(live_console.base_url, user)
        listed = client.get("/operations/dead-letters")
        assert listed.status_code == 200 and f"#{dead_id}" not in listed.text
        assert client.get(f"/operations/dead-letters/{dead_id}").status_code == 404
        outbox = client.get("/operations/outbox").text
        for tenant, alert in alerts.items():
            assert (alert["alert_uuid"] in outbox) is (tenant == own), (user, tenant)
        assert "\u2013</span>" in client.get("/").text  # the health panel hides the dead-letter count


def test_a_dead_letter_shows_its_reason_and_bytes_and_is_re_ingested_by_an_admin_only(
    live_console: LiveConsole,
) -> None:
    dead_id, whole = dead_letter(live_console.engine)
    viewer = signed_in(live_console.base_url, "viewer")
    page = viewer.get(f"/operations/dead-letters/{dead_id}")
    assert page.status_code == 200 and "Re-ingest" not in page.text
    refused = viewer.post(
        f"/operations/dead-letters/{dead_id}/reingest", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 403
    admin = signed_in(live_console.base_url, "admin")
    page = admin.get(f"/operations/dead-letters/{dead_id}")
    assert 'id="raw-base64"' in page.text and 'id="reason"' in page.text
    token = csrf_of(page.text)
    unreadable = admin.post(
        f"/operations/dead-letters/{dead_id}/reingest", data={"csrf_token": token, "content": "{not json"}
    )
    assert unreadable.status_code == 422 and 'id="content-error"' in unreadable.text
    corrected = json.loads(whole)  # not the sample's signature: the analyst's search test looks for that one
    corrected["alert"].update(signature="re-ingested in the console", signature_id=9_000_777)
    done = admin.post(
        f"/operations/dead-letters/{dead_id}/reingest",
        data={"csrf_token": token, "content": json.dumps(corrected)},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/operations/dead-letters/{dead_id}"
    shown = admin.get(done.headers["location"]).text
    assert "1 alert stored" in shown and 'id="reingested"' in shown
    assert 'id="reingested"' not in admin.get(done.headers["location"]).text  # shown once
    again = admin.post(f"/operations/dead-letters/{dead_id}/reingest", data={"csrf_token": token})
    assert again.status_code == 422 and "re-ingested" in again.text


def test_a_failed_action_is_retried_by_an_analyst_and_not_by_a_viewer(live_console: LiveConsole) -> None:
    from alertmodel import Outbox

    table = Outbox.__table__
    alert = make_alert(ref_id=TENANT_A, action="console-outbox")
    import_profiles(
        live_console.engine,
        {
            "response_profiles": [
                {"name": "console-outbox", "actions": [{"kind": "jira", "block": "nowhere"}]}
            ]
        },
    )
    from response.outbox_writer import ResponseHook

    store_batch(live_console.engine, [alert], ResponseHook())
    with live_console.engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.key.like(f"{alert['alert_uuid']}:%"))
            .values(state="failed", attempts=8, last_error="<script>alert(1)</script> JIRA answered 503")
        )
        row_id = conn.execute(
            select(table.c.id).where(table.c.key.like(f"{alert['alert_uuid']}:%"))
        ).scalar_one()
    viewer = signed_in(live_console.base_url, "viewer")
    listed = viewer.get("/operations/outbox", params={"state": "failed"}).text
    assert f"Retry #{row_id}" not in listed and "&lt;script&gt;alert(1)&lt;/script&gt;" in listed
    assert (
        viewer.post(f"/operations/outbox/{row_id}/retry", data={"csrf_token": csrf_of(listed)}).status_code
        == 403
    )
    analyst_b = signed_in(live_console.base_url, "viewer-b")
    assert f"#{row_id}<" not in analyst_b.get("/operations/outbox").text
    analyst = signed_in(live_console.base_url, "analyst-a")
    listed = analyst.get("/operations/outbox", params={"state": "failed"}).text
    assert f"Retry #{row_id}" in listed
    done = analyst.post(f"/operations/outbox/{row_id}/retry", data={"csrf_token": csrf_of(listed)})
    assert done.status_code == 303
    with live_console.engine.connect() as conn:
        assert conn.execute(select(table.c.state).where(table.c.id == row_id)).scalar_one() == "pending"
    assert analyst.get("/operations/outbox", params={"state": "bogus"}).status_code == 422


def test_a_users_dashboard_window_is_stored_and_the_dashboard_opens_with_it(
    live_console: LiveConsole,
) -> None:
    assert tuple(dashboard.WINDOWS) == DASHBOARD_WINDOWS
    client = signed_in(live_console.base_url, "viewer-b")
    assert "selected>last 24h" in client.get("/").text
    page = client.get("/settings")
    saved = client.post("/settings", data={"csrf_token": csrf_of(page.text), "dashboard_window": "7d"})
    assert saved.status_code == 303
    with live_console.engine.connect() as conn:
        settings = UserSettings.__table__
        assert conn.execute(select(settings.c.dashboard_window)).scalars().all().count("7d") >= 1
    again = signed_in(live_console.base_url, "viewer-b")  # a new session reads it from the store
    home = again.get("/").text
    assert "selected>last 7d" in home and "/dashboard/panels?window=7d" in home
    assert "selected>last 1h" in again.get("/", params={"window": "1h"}).text  # the page's own choice wins
    assert (
        "selected>last 24h" in signed_in(live_console.base_url, "viewer").get("/").text
    )  # others keep theirs
    bad = again.post("/settings", data={"csrf_token": csrf_of(home), "dashboard_window": "1y"})
    assert bad.status_code == 422
    assert again.post("/settings", data={"csrf_token": "forged", "dashboard_window": "1h"}).status_code == 403


def test_the_dashboard_shows_health_figures(live_console: LiveConsole) -> None:
    page = signed_in(live_console.base_url, "admin").get("/").text
    assert 'id="health"' in page
    for words in ("dead letters</a> not re-ingested", "actions waiting</a> (oldest:", "failed actions</a>"):
        assert words in page
    panels = signed_in(live_console.base_url, "admin").get("/dashboard/panels").text
    assert 'id="health"' in panels  # the self-refresh swaps the health panel too


def test_sign_in_is_limited_per_user_name_and_address_and_says_so_the_same_way(
    live_console: LiveConsole,
) -> None:
    from alertflow.api.app import create_app
    from tests.alertflow.api.live import serve

    app = create_app(live_console.engine)  # its own limiter: the shared console's is left alone
    with serve(app) as base_url, httpx.Client(base_url=base_url, follow_redirects=False) as client:

        def attempt(name: str, password: str) -> httpx.Response:
            token = csrf_of(client.get("/login").text)
            return client.post("/login", data={"csrf_token": token, "username": name, "password": password})

        said = {}
        for name in ("viewer", "nobody-at-all"):
            for _ in range(app.state.sign_ins.per_name):
                assert attempt(name, "wrong password").status_code == 401
            refused = attempt(name, PASSWORD)  # even the right password waits
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
            said[name] = re.search(r'<p class="problems" role="alert">(.*?)</p>', refused.text).group(1)  # type: ignore[union-attr]
        # an existing and an unknown name are told the same thing
        assert said["viewer"] == said["nobody-at-all"]
        assert said["viewer"].startswith("Too many failed sign-ins for this user name or from this address")
        assert attempt("analyst", PASSWORD).status_code == 303  # another name from the address still signs in
        basic = httpx.get(f"{base_url}/api/v1/me", auth=("viewer", PASSWORD))
        assert basic.status_code == 429 and basic.headers["retry-after"]  # the API shares the counts
        assert httpx.get(f"{base_url}/api/v1/me", auth=("analyst", PASSWORD)).status_code == 200
