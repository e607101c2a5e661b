"""The console in Debian's Chromium (Playwright, no browser download): the analyst's path, XSS, accessibility.

Every page visit fails the test when a dialog opens, a script of an alert runs (the hostile
alerts set `window.__xss`), the browser reports a Content-Security-Policy violation, the
DOM holds markup that came from an alert, or axe-core finds a serious or critical violation.
A screenshot of every page is saved in ALERTFLOW_CONSOLE_SCREENSHOTS (default: a temp dir).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect, sync_playwright
from pytest_httpserver import HTTPServer

from tests.alertfactory import import_profiles
from tests.alertflow.api.approval_runs import paused_run
from tests.alertflow.api.conftest import PASSWORD, TENANT_A
from tests.response.test_products import save_blocks, serve_products

from .conftest import FLOW_RUN_ID, PREFECT_UI, LiveConsole
from .hostile import PAYLOAD

CHROMIUM = "/usr/bin/chromium"
_AXE = Axe()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/services.sh up"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = Path(
        os.environ.get("ALERTFLOW_CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots")
    )
    directory.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {directory}")
    return directory


class Watched:
    """A page whose dialogs and CSP reports are collected, checked after every visit."""

    def __init__(self, page: Page, base_url: str, screenshots: Path) -> None:
        self.page = page
        self.base_url = base_url
        self.screenshots = screenshots
        self.dialogs: list[str] = []
        self.violations: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.violations.append(message.text)

    def visit(self, path: str, name: str) -> None:
        """Open `path`, check it, save its screenshot as `name`."""
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.status < 500, path
        self.page.wait_for_load_state("load")
        self.check(name)

    def check(self, name: str) -> None:
        page = self.page
        page.screenshot(path=str(self.screenshots / f"{name}.png"), full_page=True)
        assert self.dialogs == [], f"{name}: a dialog opened: {self.dialogs}"
        assert page.evaluate("window.__xss") is None, f"{name}: an alert's script ran"
        assert self.violations == [], f"{name}: {self.violations}"
        injected = page.evaluate(
            """() => ({
                scripts: [...document.scripts].map(s => s.src).filter(s => !s.endsWith('/static/htmx-2.0.11.min.js')),
                handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))
                    .filter(n => n.startsWith('on')),
                javascriptLinks: [...document.querySelectorAll('[href]')].map(e => e.getAttribute('href'))
                    .filter(h => /^\\s*javascript:/i.test(h)),
                images: document.querySelectorAll('img').length,
                svgs: [...document.querySelectorAll('svg')].filter(s => s.getAttribute('role') !== 'img').length,
            })"""
        )
        assert injected == {"scripts": [], "handlers": [], "javascriptLinks": [], "images": 0, "svgs": 0}, (
            name,
            injected,
        )
        results = _AXE.run(page)
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{name}: accessibility: {serious}"


def _sign_in(browser: Browser, live: LiveConsole, user: str, screenshots: Path) -> Watched:
    page = browser.new_page()
    watched = Watched(page, live.base_url, screenshots)
    watched.visit("/login", f"login-{user}")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return watched


def test_an_analyst_finds_an_alert_opens_an_incident_and_resolves_it(
    browser: Browser, live_console: LiveConsole, screenshots: Path
) -> None:
    watched = _sign_in(browser, live_console, "analyst", screenshots)
    page = watched.page
    watched.check("dashboard")
    # find the alert of the playbook run by its description text, from the search form
    page.get_by_role("link", name="Alerts", exact=True).click()
    page.get_by_label("Source", exact=True).fill("Suricata")
    page.get_by_label("Description contains").fill("GPL ATTACK_RESPONSE")
    page.get_by_role("button", name="Search").click()
    watched.check("alerts-search")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text("GPL ATTACK_RESPONSE id check returned root")
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Alert history")).to_be_visible()
    watched.check("alert-history")
    assert live_console.run_alert_uuid in page.url
    raw = page.get_by_label("Raw event as JSON").inner_text()
    assert '"event_type": "alert"' in raw and '"signature_id": 2100498' in raw  # pretty-printed, parsed
    assert json.dumps(PAYLOAD)[1:-1] in raw  # the markup is shown as (JSON) text
    run_link = page.get_by_role("link", name=f"flow run {FLOW_RUN_ID}")
    assert run_link.get_attribute("href") == f"{PREFECT_UI}/runs/flow-run/{FLOW_RUN_ID}"
    expect(page.locator("table", has_text="block-attacker")).to_contain_text("COMPLETED")
    expect(page.locator("#playbook-runs-panel")).not_to_have_attribute("hx-trigger", "every 3s")  # all final
    expect(page.locator("#ids-rule")).to_contain_text("Rule not available")  # htmx loaded the panel
    # open an incident
    page.get_by_label("Comment").fill('looks real "really" <b>bold</b>')
    page.get_by_role("button", name="Open an incident").click()
    expect(page.locator("#incident-state")).to_have_text("new")
    watched.check("incident-new")
    # resolve it with a comment
    page.get_by_label("New state").select_option("resolved")
    page.get_by_label("Comment").fill("blocked at the firewall <script>alert(9)</script>")
    page.get_by_role("button", name="Change state").click()
    expect(page.locator("#incident-state")).to_have_text("resolved")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text('looks real "really" <b>bold</b>')
    expect(history.nth(1)).to_contain_text("blocked at the firewall <script>alert(9)</script>")
    expect(history.nth(1)).to_contain_text("analyst")
    watched.check("incident-resolved")
    page.get_by_role("link", name="Incidents", exact=True).click()
    expect(page.locator("table")).to_contain_text("resolved")
    watched.check("incidents")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to alertflow")).to_be_visible()
    page.goto(live_console.base_url + "/incidents")
    assert "/login" in page.url
    page.close()


def test_hostile_alerts_of_every_source_run_no_script_on_any_page(
    browser: Browser, live_console: LiveConsole, screenshots: Path, manual_deployment: tuple[str, str]
) -> None:
    watched = _sign_in(browser, live_console, "admin", screenshots)
    page = watched.page
    watched.visit("/?window=30d", "dashboard-30d")
    watched.visit("/alerts?limit=100", "alerts-all")
    watched.visit("/alerts?" + urlencode({"q": "<script>", "limit": 25}), "alerts-hostile-query")
    assert page.get_by_label("Description contains").input_value() == "<script>"
    watched.visit("/alerts?" + urlencode({"srcip": PAYLOAD}), "alerts-bad-filter")
    sources = set()
    for i, alert_uuid in enumerate(live_console.hostile_uuids):
        watched.visit(f"/alerts/{alert_uuid}", f"alert-hostile-{i}")
        sources.add(page.locator("dt:text-is('source') + dd").inner_text())
        expect(page.locator("main")).to_contain_text("<script>window.__xss=1;alert(1)</script>")
    assert sources == {"Suricata", "Wazuh", "Falco", "ModSecurity"}
    # an incident whose title and history come from a hostile alert
    page.goto(f"{live_console.base_url}/alerts/{live_console.hostile_uuids[-1]}")
    page.get_by_label("Comment").fill(PAYLOAD)
    page.get_by_role("button", name="Open an incident").click()
    expect(page.locator("#incident-state")).to_have_text("new")
    watched.check("incident-hostile")
    watched.visit("/incidents", "incidents-hostile")
    watched.visit("/", "dashboard-with-incident")
    watched.visit("/audit", "audit")
    expect(page.locator("main")).to_contain_text("incident.open")
    paused_run(live_console.hostile_uuids[1], TENANT_A)  # a run waiting for a decision about a hostile alert
    watched.visit("/approvals", "approvals-hostile")
    expect(page.get_by_role("button", name="Approve").first).to_be_visible()
    watched.visit("/incidents/999999", "not-found")
    # the new pages of a hostile alert: its rule panel, the run form, the runs panel, the notify forms
    hostile = live_console.hostile_uuids[0]
    watched.visit(f"/alerts/{hostile}/ids-rule", "ids-rule-hostile")
    expect(page.locator("#rule-missing")).to_contain_text("Rule not available: ")
    watched.visit(
        f"/alerts/{hostile}/playbooks?" + urlencode({"deployment": manual_deployment[0]}), "run-form-hostile"
    )
    expect(page.locator("main")).to_contain_text("<script>window.__xss=1;alert(1)</script>")
    page.get_by_label("note", exact=True).fill(PAYLOAD)
    page.get_by_label("extra (JSON)").fill(json.dumps({"x": PAYLOAD}))
    page.get_by_role("button", name="Start the run").click()
    expect(page.get_by_role("heading", name="Alert history")).to_be_visible()
    expect(page.locator("#playbook-runs-panel")).to_contain_text(manual_deployment[0])
    watched.check("alert-hostile-with-run")
    watched.visit(
        f"/alerts/{hostile}/playbooks?" + urlencode({"deployment": manual_deployment[0]}), "run-form-again"
    )
    page.get_by_label("hours", exact=True).fill(PAYLOAD)
    page.get_by_role("button", name="Start the run").click()
    expect(page.get_by_role("alert")).to_contain_text("hours: a whole number is needed")
    watched.check("run-form-refused")
    page.close()


def test_the_dashboard_and_the_alert_list_refresh_themselves_with_htmx(
    browser: Browser, live_console: LiveConsole, screenshots: Path
) -> None:
    watched = _sign_in(browser, live_console, "viewer", screenshots)
    page = watched.page
    panels = page.locator("#panels")
    assert panels.get_attribute("hx-trigger") == "every 60s"
    with page.expect_response(re.compile(r"/dashboard/panels\?window=24h$"), timeout=10_000) as response:
        page.evaluate(
            "htmx.ajax('GET', '/dashboard/panels?window=24h', {target: '#panels', swap: 'outerHTML'})"
        )
    assert response.value.status == 200
    expect(page.locator("#panels")).to_have_count(1)
    watched.check("dashboard-refreshed")
    # the alert list's live view: its first page, newest first, reloads itself the same way
    page.goto(live_console.base_url + "/alerts?source=Suricata")
    results = page.locator("#results")
    assert results.get_attribute("hx-trigger") == "every 30s"
    assert results.get_attribute("hx-get") == "/alerts?source=Suricata"
    rows = results.locator("tbody tr").count()
    with page.expect_response(re.compile(r"/alerts\?source=Suricata$"), timeout=10_000) as response:
        page.evaluate(
            "htmx.ajax('GET', '/alerts?source=Suricata', {target: '#results', select: '#results', swap: 'outerHTML'})"
        )
    assert response.value.status == 200
    expect(page.locator("#results tbody tr")).to_have_count(rows)
    expect(page.locator("#results")).to_have_count(1)
    watched.check("alerts-live-refreshed")
    page.close()


def test_a_viewer_is_refused_the_admin_page_in_the_browser(
    browser: Browser, live_console: LiveConsole, screenshots: Path
) -> None:
    watched = _sign_in(browser, live_console, "viewer", screenshots)
    page = watched.page
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    response = page.goto(live_console.base_url + "/audit")
    assert response is not None and response.status == 403
    watched.check("viewer-forbidden")
    page.goto(f"{live_console.base_url}/alerts/{live_console.hostile_uuids[0]}")
    expect(page.get_by_role("button", name="Open an incident")).to_have_count(0)
    page.close()


def test_an_analyst_runs_a_playbook_from_the_form_notifies_a_group_and_sends_the_incident_once(
    browser: Browser,
    live_console: LiveConsole,
    screenshots: Path,
    manual_deployment: tuple[str, str],
    httpserver: HTTPServer,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop runs in this thread
        # in a copy of this context: the test Prefect server is a context setting
        pool.submit(contextvars.copy_context().run, asyncio.run, save_blocks(httpserver, suffix)).result()
    hive, jira = serve_products(httpserver)
    group = f"soc-{suffix}"
    import_profiles(
        live_console.engine,
        {"user_groups": [{"name": group, "slack_channel": "C0SOC", "phones": ["+15005550006"]}]},
    )
    name, _ = manual_deployment
    alert_uuid = live_console.tenant_a_plain_uuid
    watched = _sign_in(browser, live_console, "analyst-a", screenshots)
    page = watched.page
    watched.visit(f"/alerts/{alert_uuid}", "alert-actions")
    page.get_by_role("link", name="Run a playbook for this alert").click()
    watched.check("run-playbooks")
    page.get_by_role("link", name=name).click()
    expect(page.get_by_label("hours", exact=True)).to_have_value("6")  # the deployment's default
    expect(page.get_by_label("Alert (alert_uuid)")).to_have_value(alert_uuid)
    page.get_by_label("mode", exact=True).select_option("block")
    watched.check("run-form")
    page.get_by_role("button", name="Start the run").click()
    runs = page.locator("#playbook-runs-panel")
    expect(runs).to_contain_text(name)
    expect(runs).to_contain_text("SCHEDULED")  # nobody serves this deployment
    link = runs.get_by_role("link", name=re.compile(r"^flow run "))
    assert (link.get_attribute("href") or "").startswith(f"{PREFECT_UI}/runs/flow-run/")
    watched.check("alert-with-manual-run")
    # notify a group from the alert: its incident is opened and the group told on Slack
    page.get_by_label("Group", exact=True).select_option(group)
    page.get_by_label("By", exact=True).select_option("slack")
    page.get_by_label("Server block (SMTP server, Slack workspace or Twilio account)").fill(f"slack-{suffix}")
    page.get_by_role("button", name="Notify the group").click()
    expect(page.get_by_role("status")).to_have_text(f"Notified {group} by Slack: C0SOC")
    expect(page.locator("#history")).to_contain_text(f"notified {group} by slack: C0SOC")
    assert re.fullmatch(rf"{re.escape(live_console.base_url)}/incidents/\d+", page.url)  # redirected there
    watched.check("incident-notified")
    page.reload()  # a GET of the incident: nothing is posted again, and the notice is gone
    expect(page.get_by_role("status")).to_have_count(0)
    expect(page.locator("#history")).to_contain_text(f"notified {group} by slack: C0SOC")
    expect(page.locator("#history tbody tr", has_text=f"notified {group} by slack")).to_have_count(1)
    # send it to JIRA twice: once filed, then the key it has
    for expected in ("Sent to JIRA as SEC-7", "Already in JIRA as SEC-7: nothing was sent again"):
        page.get_by_label("Send to", exact=True).select_option("jira")
        page.get_by_label("Server block (JIRA site or TheHive server)").fill(f"jira-{suffix}")
        page.get_by_label("JIRA project key (empty: the block's)").fill("SEC")
        page.get_by_role("button", name="Send the incident").click()
        expect(page.get_by_role("status")).to_have_text(expected)
    assert [key for key, _ in jira.filed] == ["SEC-7"]
    watched.check("incident-sent-to-jira")
    # then to TheHive, and the group by SMS (Twilio)
    page.get_by_label("Send to", exact=True).select_option("thehive")
    page.get_by_label("Server block (JIRA site or TheHive server)").fill(f"thehive-{suffix}")
    page.get_by_role("button", name="Send the incident").click()
    expect(page.get_by_role("status")).to_have_text("Sent to TheHive as ~4242")
    assert [a["sourceRef"] for a in hive.created] == [alert_uuid]
    page.get_by_label("Group", exact=True).select_option(group)
    page.get_by_label("By", exact=True).select_option("twilio")
    page.get_by_label("Server block (SMTP server, Slack workspace or Twilio account)").fill(
        f"twilio-{suffix}"
    )
    page.get_by_role("button", name="Notify the group").click()
    expect(page.get_by_role("status")).to_have_text(f"Notified {group} by SMS (Twilio): +15005550006")
    expect(page.locator("#history")).to_contain_text(f"notified {group} by twilio: +15005550006")
    watched.check("incident-sent-and-told")
    page.close()
