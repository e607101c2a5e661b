"""Console sessions: idle timeout, maximum age, sign-out, CSRF comparison."""

from __future__ import annotations

import time

from alertflow.api import accounts
from alertflow.api.app import create_app
from alertflow.console.sessions import SessionStore, csrf_matches
from tests.alertflow.api.conftest import PASSWORD
from tests.alertflow.api.live import serve

from .client import signed_in
from .conftest import LiveConsole


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_after_the_idle_time_but_activity_keeps_it() -> None:
    clock = Clock()
    store = SessionStore(idle_s=60, max_age_s=3600, clock=clock)
    cookie, session = store.start("ana")
    clock.now += 50
    assert store.get(cookie) is session
    clock.now += 50  # 100 s after sign-in, 50 s after the last request
    assert store.get(cookie) is session
    clock.now += 50
    assert store.get(cookie, touch=False) is session  # a self-refresh does not count as activity
    clock.now += 20
    assert store.get(cookie) is None
    assert store.get(cookie) is None  # and it stays gone


def test_a_session_ends_at_its_maximum_age_however_active() -> None:
    clock = Clock()
    store = SessionStore(idle_s=60, max_age_s=120, clock=clock)
    cookie, _ = store.start("ana")
    for _ in range(4):
        clock.now += 30
        assert store.get(cookie) is not None
    clock.now += 30
    assert store.get(cookie) is None


def test_sign_out_and_disabling_end_sessions_and_cookies_are_not_guessable() -> None:
    store = SessionStore()
    first, _ = store.start("ana")
    second, _ = store.start("ana")
    other, _ = store.start("bob")
    assert first != second and len(first) >= 40
    store.end(first)
    assert store.get(first) is None and store.get(second) is not None
    store.end_all("ana")
    assert store.get(second) is None and store.get(other) is not None
    assert store.get("x" * 500) is None and store.get(None) is None


def test_a_flash_is_read_once_by_its_own_page_of_its_own_session() -> None:
    store = SessionStore()
    _, session = store.start("ana")
    _, other = store.start("ana")
    store.set_flash(session, "/incidents/7", notice="first")
    store.set_flash(session, "/incidents/7", notice="Notified soc")  # the newest replaces it
    assert store.pop_flash(other, "/incidents/7") == {}
    assert store.pop_flash(session, "/incidents") == {}  # another page leaves it
    assert store.pop_flash(session, "/incidents/7") == {"notice": "Notified soc"}
    assert store.pop_flash(session, "/incidents/7") == {}


def test_csrf_tokens_compare_exactly() -> None:
    assert csrf_matches("abc", "abc")
    assert not csrf_matches("abc", "abd") and not csrf_matches("abc", "") and not csrf_matches("abc", None)
    assert not csrf_matches("abc", "ab")


def test_an_idle_browser_is_sent_to_sign_in_again_even_while_its_pages_refresh(
    live_console: LiveConsole,
) -> None:
    with serve(create_app(live_console.engine, console_idle_s=2)) as base_url:
        client = signed_in(base_url, "viewer")
        assert client.get("/").status_code == 200
        time.sleep(1.2)
        assert client.get("/dashboard/panels", headers={"HX-Request": "true"}).status_code == 200
        time.sleep(1.2)  # 2.4 s since the last request of the user's own
        refresh = client.get("/dashboard/panels", headers={"HX-Request": "true"})
        assert refresh.status_code == 401 and refresh.headers["hx-redirect"].startswith("/login")
        response = client.get("/alerts")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_disabled_user_is_signed_out_at_the_next_request(live_console: LiveConsole) -> None:
    accounts.add_user(
        live_console.engine,
        "short-lived",
        role="viewer",
        password=PASSWORD,
        tenants=[],
        actor="test",
    )
    client = signed_in(live_console.base_url, "short-lived")
    assert client.get("/").status_code == 200
    accounts.update_user(live_console.engine, "short-lived", disabled=True, actor="test")
    assert client.get("/").status_code == 303
    accounts.update_user(live_console.engine, "short-lived", disabled=False, actor="test")
    assert client.get("/").status_code == 303  # the session is gone, not merely suspended
