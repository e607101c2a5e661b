"""Signing in to the console without a browser, for the HTTP-level tests."""

from __future__ import annotations

import re

import httpx

from tests.alertflow.api.conftest import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def signed_in(base_url: str, user: str, **kwargs: object) -> httpx.Client:
    """A client holding a console session of `user`."""
    client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "username": user, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return client
