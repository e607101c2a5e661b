"""The console's defences over HTTP: headers, cookies, CSRF, roles, tenants, redirects."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import httpx
import pytest

from alertflow.api.app import create_app
from alertflow.console.headers import CONTENT_SECURITY_POLICY
from alertflow.console.sessions import COOKIE
from alertflow.up.api_access import ensure_api_certificate
from tests.alertflow.api.conftest import PASSWORD
from tests.alertflow.api.live import serve

from .client import csrf_of, signed_in
from .conftest import LiveConsole

PAGES = ["/", "/alerts", "/incidents", "/dashboard/panels"]
TEMPLATES = Path(__file__).parents[3] / "alertflow" / "console" / "templates"


def _open_incident(live: LiveConsole, alert_uuid: str) -> int:
    client = signed_in(live.base_url, "analyst")
    page = client.get(f"/alerts/{alert_uuid}")
    response = client.post(
        f"/alerts/{alert_uuid}/incident", data={"csrf_token": csrf_of(page.text), "comment": "seen"}
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_every_page_sends_the_security_headers(live_console: LiveConsole) -> None:
    client = signed_in(live_console.base_url, "viewer")
    for path in [*PAGES, f"/alerts/{live_console.hostile_uuids[0]}", "/login", "/static/console.css"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert (
            "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
            and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        )
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        if path != "/static/console.css":
            assert response.headers["cache-control"] == "no-store"


def test_pages_need_a_session_and_send_the_browser_to_sign_in(live_console: LiveConsole) -> None:
    with httpx.Client(base_url=live_console.base_url, follow_redirects=False) as client:
        for path in [*PAGES, "/audit", f"/alerts/{live_console.hostile_uuids[0]}"]:
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
        assert client.get("/dashboard/panels", headers={"HX-Request": "true"}).headers["hx-redirect"]
        # a forged session cookie is no session
        client.cookies.set(COOKIE, "forged-session-value")
        assert client.get("/").status_code == 303


def test_the_session_cookie_is_httponly_and_samesite_strict(live_console: LiveConsole) -> None:
    with httpx.Client(base_url=live_console.base_url, follow_redirects=False) as client:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"csrf_token": csrf_of(page.text), "username": "viewer", "password": PASSWORD, "next": "/"},
        )
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; see the TLS test


def test_under_tls_the_session_cookie_is_secure(live_console: LiveConsole, tmp_path: Path) -> None:
    certfile, keyfile = ensure_api_certificate(tmp_path)
    with (
        serve(create_app(live_console.engine), tls=(certfile, keyfile)) as base_url,
        httpx.Client(
            base_url=base_url, verify=ssl.create_default_context(cafile=str(certfile)), follow_redirects=False
        ) as client,
    ):
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"]
        response = client.post(
            "/login",
            data={
                "csrf_token": csrf_of(page.text),
                "username": "viewer",
                "password": PASSWORD,
                "next": "/",
            },
        )
        cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(COOKIE + "="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert client.get("/").status_code == 200


def test_sign_in_refuses_a_wrong_password_and_a_forged_form_token(live_console: LiveConsole) -> None:
    with httpx.Client(base_url=live_console.base_url, follow_redirects=False) as client:
        token = csrf_of(client.get("/login").text)
        wrong = client.post(
            "/login", data={"csrf_token": token, "username": "viewer", "password": "nope-nope"}
        )
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        token = csrf_of(wrong.text)
        forged = client.post(
            "/login", data={"csrf_token": "forged", "username": "viewer", "password": PASSWORD}
        )
        assert forged.status_code == 403
        assert COOKIE not in client.cookies
    # a form posted from another site carries no login cookie of ours
    with httpx.Client(base_url=live_console.base_url, follow_redirects=False) as other:
        posted = other.post("/login", data={"csrf_token": token, "username": "viewer", "password": PASSWORD})
        assert posted.status_code == 403


def test_sign_in_sends_only_to_a_local_page(live_console: LiveConsole) -> None:
    for target, expected in [
        ("/incidents", "/incidents"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ]:
        with httpx.Client(base_url=live_console.base_url, follow_redirects=False) as client:
            token = csrf_of(client.get("/login").text)
            response = client.post(
                "/login",
                data={"csrf_token": token, "username": "viewer", "password": PASSWORD, "next": target},
            )
            assert response.headers["location"] == expected


def test_logout_ends_the_session_and_needs_its_token(live_console: LiveConsole) -> None:
    client = signed_in(live_console.base_url, "viewer")
    session = client.cookies[COOKIE]
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with httpx.Client(base_url=live_console.base_url, follow_redirects=False) as replay:
        replay.cookies.set(COOKIE, session)
        assert replay.get("/").status_code == 303


def test_a_viewer_sees_no_analyst_forms_and_cannot_post_them(live_console: LiveConsole) -> None:
    hostile = live_console.hostile_uuids
    incident_id = _open_incident(live_console, hostile[2])
    # an alert no other test opens an incident for (the browser tests open the run alert's and the last's)
    alert_uuid = next(u for u in hostile[4:-1] if u != live_console.run_alert_uuid)
    viewer = signed_in(live_console.base_url, "viewer")
    history = viewer.get(f"/alerts/{alert_uuid}").text
    assert "Open an incident" not in history
    assert "Change state" not in viewer.get(f"/incidents/{incident_id}").text
    token = csrf_of(history)  # the viewer's own, valid token (from the sign-out form)
    for forged in (token, "forged-token"):
        opened = viewer.post(f"/alerts/{alert_uuid}/incident", data={"csrf_token": forged, "comment": "x"})
        moved = viewer.post(
            f"/incidents/{incident_id}/state",
            data={"csrf_token": forged, "state": "resolved", "comment": "x"},
        )
        assert opened.status_code == 403 and moved.status_code == 403
    with live_console.engine.connect() as conn:
        from alertmodel import incident_queries

        assert incident_queries.incident_of_alert(conn, alert_uuid) is None
        incident = incident_queries.read_incident(conn, incident_id)
        assert incident is not None and incident.state == "new"


def test_a_viewer_cannot_reach_the_admin_page(live_console: LiveConsole) -> None:
    viewer = signed_in(live_console.base_url, "viewer")
    assert viewer.get("/audit").status_code == 403
    assert 'href="/audit"' not in viewer.get("/").text
    assert signed_in(live_console.base_url, "admin").get("/audit").status_code == 200


def test_an_analyst_post_without_the_session_token_or_from_another_origin_is_refused(
    live_console: LiveConsole,
) -> None:
    incident_id = _open_incident(live_console, live_console.hostile_uuids[3])
    analyst = signed_in(live_console.base_url, "analyst")
    token = csrf_of(analyst.get(f"/incidents/{incident_id}").text)
    other = signed_in(live_console.base_url, "analyst")
    other_token = csrf_of(other.get(f"/incidents/{incident_id}").text)
    body = {"state": "in_progress", "comment": "x"}
    assert analyst.post(f"/incidents/{incident_id}/state", data=body).status_code == 403
    assert (
        analyst.post(f"/incidents/{incident_id}/state", data={**body, "csrf_token": other_token}).status_code
        == 403
    )
    cross = analyst.post(
        f"/incidents/{incident_id}/state",
        data={**body, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    json_post = analyst.post(f"/incidents/{incident_id}/state", json={**body, "csrf_token": token})
    assert json_post.status_code == 415
    done = analyst.post(f"/incidents/{incident_id}/state", data={**body, "csrf_token": token})
    assert done.status_code == 303
    assert "in_progress" in analyst.get(f"/incidents/{incident_id}").text


@pytest.mark.parametrize("user", ["analyst-a", "viewer-b"])
def test_a_tenant_user_never_sees_another_tenants_alerts(live_console: LiveConsole, user: str) -> None:
    client = signed_in(live_console.base_url, user)
    own_b = user.endswith("-b")
    pages = [client.get(p, params={"limit": 500} if p == "/alerts" else None).text for p in ["/", "/alerts"]]
    for alert_uuid in live_console.tenant_b_uuids:
        assert (client.get(f"/alerts/{alert_uuid}").status_code == 200) is own_b
        assert any(alert_uuid in page for page in pages) is own_b
    for alert_uuid in live_console.hostile_uuids:  # tenant A's
        assert (client.get(f"/alerts/{alert_uuid}").status_code == 200) is not own_b
        assert any(alert_uuid in page for page in pages) is not own_b


def test_bad_search_input_is_a_page_naming_the_field_never_a_500(live_console: LiveConsole) -> None:
    client = signed_in(live_console.base_url, "viewer")
    for params, field in [
        ({"min_severity": "9"}, "min_severity"),
        ({"srcip": "not-an-ip"}, "srcip"),
        ({"cursor": "garbage"}, "cursor"),
        ({"profile": "no-such-profile"}, "profile"),
        ({"since": "yesterday"}, "since"),
        ({"unknown": "x"}, "unknown"),
    ]:
        response = client.get("/alerts", params=params)
        assert response.status_code == 422 and field in response.text, params
    for params in [
        {"since": "0001-01-01T00:00:00+14:00"},
        {"limit": "100000"},
        {"q": "\x00%_'\""},
        {"severity": ["1", "x"]},
        {"sort": "alert_id"},
    ]:
        assert client.get("/alerts", params=params).status_code in (200, 422), params
    assert client.get("/incidents", params={"cursor": "xyz"}).status_code == 422
    assert client.get("/incidents", params={"since": "0001-01-01T00:00:00+14:00"}).status_code == 422
    assert client.get("/incidents", params={"state": "bogus"}).status_code == 422
    assert client.get("/", params={"window": "1y"}).status_code == 422
    assert client.get("/alerts/not-a-uuid").status_code == 404
    assert client.get("/incidents/0").status_code == 404
    assert client.get("/incidents/99999999999999999999").status_code == 404
    assert client.get("/static/../pages.py").status_code == 404


def test_no_template_turns_escaping_off_or_inlines_script_or_style() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"\|\s*safe|autoescape\s+false|Markup", text), template.name
        assert not re.search(r"<script>|<style|\sstyle=|\son[a-z]+=", text), template.name
