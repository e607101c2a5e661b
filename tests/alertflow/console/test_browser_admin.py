"""The configuration and operations pages in Debian's Chromium: an admin's path, a viewer refused, XSS, axe.

Each visit is checked as in test_browser (no dialog, no alert script run, no CSP report, no
injected markup, no serious or critical axe violation) and saved as a screenshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from alertflow.console.sessions import CSRF_FIELD
from alertmodel import Outbox
from response.outbox_writer import ResponseHook
from tests.alertfactory import import_profiles, make_alert, store_batch
from tests.alertflow.api.conftest import TENANT_A, TENANT_B
from tests.alertflow.api.ops import dead_letter

from .conftest import LiveConsole
from .hostile import PAYLOAD
from .test_browser import Watched, _sign_in, browser, screenshots  # noqa: F401 (fixtures)

HOSTILE_NODE = "edge-<script>window.__xss=1</script>"


@pytest.fixture(scope="module")
def hostile_operations(live_console: LiveConsole) -> Iterator[dict[str, int]]:
    """Dead letters and outbox rows, a filter policy and profiles whose text is hostile markup."""
    engine = live_console.engine
    text_id, _ = dead_letter(engine, ("{" + PAYLOAD).encode())
    binary_id, _ = dead_letter(engine, b"\xff\xfe<script>window.__xss=1;alert(7)</script>\x00")
    import_profiles(
        engine,
        {
            "category_profiles": [
                {"name": "hostile-cats", "source_type": "Suricata", "categories": [PAYLOAD]}
            ],
            "user_groups": [
                {"name": "hostile-group", "emails": ["soc@example.org"], "slack_channel": PAYLOAD}
            ],
            "response_profiles": [
                {
                    "name": "hostile-profile",
                    "match": {"description_regex": re.escape(PAYLOAD), "agent": PAYLOAD},
                    "actions": [{"kind": "jira", "block": "nowhere", "project": PAYLOAD}],
                },
                {"name": "hostile-outbox", "actions": [{"kind": "jira", "block": "nowhere"}]},
            ],
        },
    )
    rows = {}
    outbox = Outbox.__table__
    for tenant in (TENANT_A, TENANT_B):
        alert = make_alert(ref_id=tenant, action="hostile-outbox", description=PAYLOAD)
        store_batch(engine, [alert], ResponseHook())
        with engine.begin() as conn:
            key = f"{alert['alert_uuid']}:%"
            conn.execute(
                outbox.update().where(outbox.c.key.like(key)).values(state="failed", last_error=PAYLOAD)
            )
            rows[tenant] = int(conn.execute(select(outbox.c.id).where(outbox.c.key.like(key))).scalar_one())
    yield {"text": text_id, "binary": binary_id, "outbox_a": rows[TENANT_A], "outbox_b": rows[TENANT_B]}


def test_an_admin_configures_categories_profiles_and_filter_policies_in_the_browser(
    browser: Browser,  # noqa: F811
    live_console: LiveConsole,
    screenshots,  # noqa: F811
) -> None:
    watched = _sign_in(browser, live_console, "admin", screenshots)
    page = watched.page
    page.get_by_role("link", name="Configuration").click()
    expect(page.get_by_role("heading", name="Configuration")).to_be_visible()
    watched.check("admin-index")
    # a category
    page.get_by_role("link", name="Categories").click()
    page.get_by_label("Name").fill("Browser-made category")
    page.get_by_label("Source type").fill("Suricata")
    page.get_by_label("Description").fill("made in the browser")
    page.get_by_role("button", name="Create category").click()
    expect(page.get_by_role("status")).to_contain_text("Browser-made category")
    expect(page.locator("table")).to_contain_text("Browser-made category")
    watched.check("admin-categories")
    # a category profile
    page.goto(live_console.base_url + "/admin/category-profiles")
    page.get_by_label("Name").fill("browser-web")
    page.get_by_label("Source type").fill("Suricata")
    page.get_by_label("Categories").fill("Browser-made category\nAttempted Administrator Privilege Gain")
    page.get_by_role("button", name="Create category profile").click()
    expect(page.locator("table")).to_contain_text("browser-web")
    watched.check("admin-category-profiles")
    # edited in place: no category at all is named at its field, then the categories are changed
    page.get_by_role("link", name="Edit category profile browser-web").click()
    expect(page.get_by_role("heading", name="Category profile browser-web")).to_be_visible()
    expect(page.get_by_label("Categories")).to_have_value(
        "Browser-made category\nAttempted Administrator Privilege Gain"
    )
    page.get_by_label("Categories").fill("")
    page.get_by_role("button", name="Save category profile").click()
    expect(page.locator("#categories-error")).to_contain_text("categories: List should have at least 1 item")
    expect(page.get_by_label("Categories")).to_have_attribute("aria-invalid", "true")
    watched.check("admin-category-profile-error")
    page.get_by_label("Categories").fill("Browser-made category\nWeb Application Attack")
    page.get_by_role("button", name="Save category profile").click()
    expect(page.get_by_role("status")).to_have_text("Saved: browser-web")
    expect(page.locator("table")).to_contain_text("Browser-made category, Web Application Attack")
    watched.check("admin-category-profile-edited")
    # a user group, made then edited
    page.goto(live_console.base_url + "/admin/user-groups")
    page.get_by_label("Name").fill("browser-group")
    page.get_by_label("E-mail addresses").fill("day@example.org")
    page.get_by_role("button", name="Create user group").click()
    page.get_by_role("link", name="Edit user group browser-group").click()
    expect(page.get_by_label("E-mail addresses")).to_have_value("day@example.org")
    page.get_by_label("E-mail addresses").fill("night@example.org")
    page.get_by_label("Slack channel").fill("C0NIGHT")
    watched.check("admin-user-group-edit")
    page.get_by_role("button", name="Save user group").click()
    expect(page.get_by_role("status")).to_have_text("Saved: browser-group")
    expect(page.locator("table")).to_contain_text("night@example.org")
    expect(page.locator("table")).to_contain_text("C0NIGHT")
    # a response profile: first with a severity out of range, then fixed
    page.goto(live_console.base_url + "/admin/response-profiles")
    watched.check("admin-response-profiles")
    page.get_by_role("link", name="New response profile").click()
    profile = "name: browser-incident\nmatch:\n  category_profile: browser-web\n  severity: 7\nactions:\n  - kind: incident\n"
    page.get_by_label("Profile (YAML)").fill(profile)
    page.get_by_role("button", name="Create response profile").click()
    error = page.locator("#profile-error")
    expect(error).to_contain_text("match.severity: Input should be less than or equal to 4")
    assert page.get_by_label("Profile (YAML)").get_attribute("aria-describedby") == "profile-error"
    watched.check("admin-response-profile-error")
    page.get_by_label("Profile (YAML)").fill(profile.replace("severity: 7", "severity: 3"))
    page.get_by_role("button", name="Create response profile").click()
    expect(page.locator("table")).to_contain_text("browser-incident")
    page.get_by_role("link", name="browser-incident").click()
    expect(page.get_by_label("Profile (YAML)")).to_have_value(re.compile("category_profile: browser-web"))
    watched.check("admin-response-profile-edit")
    # a filter policy: two versions, their diff, and a roll back to the first
    node = "edge-browser"
    for name in ("first-policy", "second-policy"):
        page.goto(live_console.base_url + "/admin/filter-policies")
        page.get_by_label("Node").fill(node)
        page.get_by_label("Policy (JSON)").fill(
            json.dumps({"filter_name": name, "ref_id": TENANT_A}, indent=2)
        )
        page.get_by_label("Make it the active version").check()
        page.get_by_role("button", name="Upload version").click()
        expect(page.get_by_role("heading", name=f"Filter policy of node {node}")).to_be_visible()
    watched.check("admin-policy-node")
    versions = page.locator("#versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.nth(1)).to_contain_text("active")
    page.get_by_role("button", name="Show differences").click()
    expect(page.locator("#changes")).to_contain_text("filter_name")
    expect(page.locator("#unified")).to_contain_text('+  "filter_name": "second-policy"')
    watched.check("admin-policy-diff")
    page.go_back()
    page.get_by_role("link", name="version 2").click()
    expect(page.locator("pre")).to_contain_text('"second-policy"')
    watched.check("admin-policy-version")
    page.go_back()
    page.get_by_role("button", name="Roll back to the version active before").click()
    expect(versions.nth(0)).to_contain_text("active")
    expect(versions.nth(1)).not_to_contain_text("active")
    watched.check("admin-policy-rolled-back")
    page.goto(live_console.base_url + "/admin/filter-policies")
    watched.check("admin-policies")
    page.goto(live_console.base_url + "/audit")
    expect(page.locator("main")).to_contain_text("filter_policy.rollback")
    expect(page.locator("main")).to_contain_text("category-profile.update")
    expect(page.locator("main")).to_contain_text("user-group.update")
    page.close()


def test_every_new_page_shows_hostile_text_as_text(
    browser: Browser,  # noqa: F811
    live_console: LiveConsole,
    screenshots,  # noqa: F811
    hostile_operations: dict[str, int],
) -> None:
    from alertflow.api.accounts import Principal
    from alertflow.api.routes import (
        filter_policies,  # a hostile node name and filter name, as the API stores them
    )
    from ingest.policy import Policy

    filter_policies.upload_version(
        HOSTILE_NODE,
        Policy.model_validate({"filter_name": PAYLOAD, "ref_id": PAYLOAD}),
        live_console.engine,
        Principal("admin", "admin", ()),
        activate=True,
    )
    watched = _sign_in(browser, live_console, "admin", screenshots)
    page = watched.page
    node = "/admin/filter-policies/" + quote(HOSTILE_NODE, safe="")
    for path, name in [
        ("/admin/categories", "admin-categories-hostile"),
        ("/admin/category-profiles", "admin-category-profiles-hostile"),
        ("/admin/user-groups", "admin-user-groups"),
        ("/admin/category-profiles/hostile-cats", "admin-category-profile-hostile"),
        ("/admin/user-groups/hostile-group", "admin-user-group-hostile"),
        ("/admin/users", "admin-users"),
        ("/admin/response-profiles", "admin-response-profiles-hostile"),
        ("/admin/response-profiles/hostile-profile", "admin-response-profile-hostile"),
        ("/admin/filter-policies", "admin-policies-hostile"),
        (node, "admin-policy-node-hostile"),
        (node + "/versions/1", "admin-policy-version-hostile"),
        ("/operations/dead-letters", "dead-letters"),
        (f"/operations/dead-letters/{hostile_operations['text']}", "dead-letter-text"),
        (f"/operations/dead-letters/{hostile_operations['binary']}", "dead-letter-binary"),
        ("/operations/outbox", "outbox"),
        ("/operations/outbox?state=failed", "outbox-failed"),
        ("/settings", "settings"),
        ("/", "dashboard-health"),
    ]:
        watched.visit(path, name)
    page.goto(f"{live_console.base_url}/operations/dead-letters/{hostile_operations['text']}")
    expect(page.locator("#raw-text")).to_contain_text("<script>window.__xss=1;alert(1)</script>")
    page.goto(f"{live_console.base_url}/operations/dead-letters/{hostile_operations['binary']}")
    expect(page.locator("main")).to_contain_text("not UTF-8")
    expect(page.locator("#raw-base64")).to_contain_text("//48c2NyaXB0Pn")
    page.goto(f"{live_console.base_url}/admin/user-groups")
    expect(page.locator("table")).to_contain_text(PAYLOAD)
    page.goto(f"{live_console.base_url}/admin/user-groups/hostile-group")
    expect(page.get_by_label("Slack channel")).to_have_value(PAYLOAD)
    page.close()


def test_a_viewer_is_refused_the_configuration_pages_and_their_forms_in_the_browser(
    browser: Browser,  # noqa: F811
    live_console: LiveConsole,
    screenshots,  # noqa: F811
) -> None:
    watched = _sign_in(browser, live_console, "viewer", screenshots)
    page = watched.page
    expect(page.get_by_role("link", name="Configuration")).to_have_count(0)
    for path in ("/admin", "/admin/categories", "/admin/filter-policies", "/admin/users"):
        response = page.goto(live_console.base_url + path)
        assert response is not None and response.status == 403, path
    watched.check("viewer-admin-forbidden")
    page.goto(live_console.base_url + "/settings")
    token = page.locator(f"input[name={CSRF_FIELD}]").first.input_value()
    for forged in (token, "forged-token"):
        posted = page.request.post(
            live_console.base_url + "/admin/categories",
            form={CSRF_FIELD: forged, "name": "viewer-in-browser", "source_type": "Suricata"},
        )
        assert posted.status == 403
    page.goto(live_console.base_url + "/settings")
    page.get_by_label("Dashboard time window").select_option("30d")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_label("Time window")).to_have_value("30d")
    watched.check("viewer-dashboard-own-window")
    page.close()


def test_a_tenant_analyst_sees_only_its_tenants_operations_in_the_browser(
    browser: Browser,  # noqa: F811
    live_console: LiveConsole,
    screenshots,  # noqa: F811
    hostile_operations: dict[str, int],
) -> None:
    watched = _sign_in(browser, live_console, "analyst-a", screenshots)
    page = watched.page
    watched.visit("/operations/dead-letters", "dead-letters-tenant-a")
    expect(page.locator("table tbody tr")).to_have_text(["No dead letters."])
    watched.visit("/operations/outbox?state=failed", "outbox-tenant-a")
    main = page.locator("main")
    expect(main).to_contain_text(f"Retry #{hostile_operations['outbox_a']}")
    expect(main).not_to_contain_text(f"#{hostile_operations['outbox_b']} ")
    assert f"#{hostile_operations['outbox_b']}<" not in page.content()
    response = page.goto(f"{live_console.base_url}/operations/dead-letters/{hostile_operations['text']}")
    assert response is not None and response.status == 404
    page.goto(live_console.base_url + "/operations/outbox?state=failed")
    page.get_by_role("button", name=f"Retry #{hostile_operations['outbox_a']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"#{hostile_operations['outbox_a']} is due again")
    watched.check("outbox-retried")
    page.close()
