"""The analyst's first scenario in Debian's Chromium against `alertflow up --demo` on a temp data dir:
an alert posted a moment ago through the real ingest path is found, its history and raw JSON read,
an incident opened and resolved with a comment, and a playbook run for the alert started from the
form built from the deployment's schema reaches Completed, linked to its page in Prefect's UI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from alertflow.up.demo import DEMO_SIGNATURE_ID, EVENTS
from tests.integration.test_up import Up, up_running, wait_for

# the browser and screenshot fixtures of the browser tests, and their page checks
from .test_browser import Watched, browser, screenshots  # noqa: F401

pytestmark = pytest.mark.integration
DEMO_DEPLOYMENT = "yaml-playbook/demo-contain"


@pytest.fixture(scope="module")
def up_with_ui() -> Iterator[Up]:
    with up_running(ui=True) as running:
        yield running


def _post_alert(up: Up, marker: str) -> None:
    """A Suricata alert (not the demo profile's signature) through up's HTTP ingest."""
    event = json.loads(EVENTS.read_text().splitlines()[0])
    event["alert"] |= {"signature_id": DEMO_SIGNATURE_ID + 1, "signature": f"console scenario {marker}"}
    event |= {"src_ip": "198.18.7.9", "flow_id": uuid.uuid4().int % 10**15}
    token = (up.data / "ingest-token").read_text().strip()
    accepted = httpx.post(
        up.ingest_url, content=json.dumps(event), headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert accepted.status_code == 202, accepted.text


def test_the_first_scenario_from_an_alert_posted_a_moment_ago_to_a_completed_playbook_run(
    up_with_ui: Up,
    browser: Browser,  # noqa: F811
    screenshots: Path,  # noqa: F811
) -> None:
    up = up_with_ui
    console = f"{up.rest_url}/"
    assert f"console:      {console}" in up.output()
    marker = uuid.uuid4().hex[:10]
    _post_alert(up, marker)
    context = browser.new_context(ignore_https_errors=True)  # up's own self-signed API certificate
    page = context.new_page()
    watched = Watched(page, up.rest_url, screenshots)
    watched.visit("/login", "up-login")
    page.get_by_label("User name").fill("api-admin")
    page.get_by_label("Password").fill((up.data / "api-admin").read_text().strip())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    watched.check("up-dashboard")

    # find the alert posted a moment ago (the ingest worker stores it within seconds)
    def found() -> bool:
        page.goto(f"{up.rest_url}/alerts?q={marker}")
        return page.locator("#results tbody tr a").count() == 1

    wait_for(found, "the posted alert in the console's search", 120)
    watched.check("up-alerts")
    page.locator("#results tbody tr a").first.click()
    expect(page.get_by_role("heading", name="Alert history")).to_be_visible()
    alert_uuid = page.url.rsplit("/", 1)[1]
    raw = page.get_by_label("Raw event as JSON").inner_text()
    assert f'"signature": "console scenario {marker}"' in raw
    watched.check("up-alert-history")

    # open an incident, resolve it with a comment, see its history
    page.get_by_label("Comment").fill("scanner seen from 198.18.7.9")
    page.get_by_role("button", name="Open an incident").click()
    expect(page.locator("#incident-state")).to_have_text("new")
    page.get_by_label("New state").select_option("resolved")
    page.get_by_label("Comment").fill("blocked upstream; closing")
    page.get_by_role("button", name="Change state").click()
    expect(page.locator("#incident-state")).to_have_text("resolved")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("scanner seen from 198.18.7.9")
    expect(history.nth(1)).to_contain_text("blocked upstream; closing")
    expect(history.nth(1)).to_contain_text("api-admin")
    watched.check("up-incident-resolved")

    # run the demo playbook for the alert from the form built from its parameter schema
    page.get_by_role("link", name=alert_uuid).click()
    page.get_by_role("link", name="Run a playbook for this alert").click()
    page.get_by_role("link", name=DEMO_DEPLOYMENT).click()
    expect(page.get_by_label("Alert (alert_uuid)")).to_have_value(alert_uuid)
    expect(page.get_by_label("playbook (JSON)")).to_have_value("demo-contain")
    watched.check("up-run-form")
    page.get_by_role("button", name="Start the run").click()
    runs = page.locator("#playbook-runs-panel")
    expect(runs).to_contain_text(DEMO_DEPLOYMENT)
    # the panel refreshes itself (htmx) until the run is final; the dispatcher copies the state
    expect(runs.locator("tr", has_text=DEMO_DEPLOYMENT).locator(".run-state")).to_have_text(
        "COMPLETED", timeout=240_000
    )
    link = runs.locator("tr", has_text=DEMO_DEPLOYMENT).get_by_role("link")
    href = link.get_attribute("href") or ""
    ui = up.api_url.removesuffix("/api")
    assert href.startswith(f"{ui}/runs/flow-run/"), href
    flow_run_id = href.rsplit("/", 1)[1]
    watched.check("up-run-completed")
    run = up.api("GET", f"/flow_runs/{flow_run_id}").json()
    assert run["state_type"] == "COMPLETED"
    assert run["parameters"]["alert"]["alert_uuid"] == alert_uuid
    assert run["idempotency_key"] == f"{alert_uuid}:manual:api-admin:{DEMO_DEPLOYMENT}"
    with httpx.Client(auth=up.auth(), timeout=30) as http:  # Prefect's UI serves the run's page
        ui_page = http.get(href)
    assert ui_page.status_code == 200 and "<html" in ui_page.text.lower()
    context.close()
