"""Sign-in over HTTP: Basic and personal tokens, refusals, roles, and the audit log of API writes."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from alertflow.api import accounts
from alertmodel.account import ApiUser

from .conftest import PASSWORD, LiveApi


def test_no_credentials_is_401_with_a_challenge(live_api: LiveApi) -> None:
    response = live_api.client(None).get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(f"admin:{PASSWORD}x".encode()).decode(),
        "Basic " + base64.b64encode(b"nobody:whatever-it-is").decode(),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer aft_not-a-token",
        "Bearer " + "a" * 5000,
        "Digest abc",
    ],
)
def test_wrong_or_malformed_credentials_are_401(live_api: LiveApi, header: str) -> None:
    response = httpx.get(f"{live_api.base_url}/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401


def test_basic_sign_in_returns_the_user_role_and_tenants(live_api: LiveApi) -> None:
    response = live_api.client("analyst-a").get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == {"name": "analyst-a", "role": "analyst", "tenants": ["tenant-a"]}


def test_a_password_with_non_ascii_characters_works_over_basic(live_api: LiveApi) -> None:
    accounts.add_user(
        live_api.engine, "juergen", role="viewer", password="pässwörd-€-ok", tenants=[], actor="t"
    )
    header = "Basic " + base64.b64encode("juergen:pässwörd-€-ok".encode()).decode()
    assert httpx.get(f"{live_api.base_url}/api/v1/me", headers={"Authorization": header}).status_code == 200


def test_a_token_made_through_the_api_signs_in_until_revoked(live_api: LiveApi) -> None:
    created = live_api.client("viewer").post(
        "/api/v1/me/tokens", json={"name": "script", "expires_in_days": 1}
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{live_api.base_url}/api/v1/me", headers=bearer)
    assert me.status_code == 200 and me.json()["name"] == "viewer"
    listed = live_api.client("viewer").get("/api/v1/me/tokens").json()
    assert token not in str(listed) and listed[0]["name"] == "script"
    other = live_api.client("analyst").delete(f"/api/v1/me/tokens/{created.json()['id']}")
    assert other.status_code == 404
    assert live_api.client("viewer").delete(f"/api/v1/me/tokens/{created.json()['id']}").status_code == 204
    assert httpx.get(f"{live_api.base_url}/api/v1/me", headers=bearer).status_code == 401


def test_the_openapi_document_needs_sign_in_too(live_api: LiveApi) -> None:
    assert live_api.client(None).get("/api/v1/openapi.json").status_code == 401
    document = live_api.client("viewer").get("/api/v1/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"basic", "token"}


def test_only_admins_manage_users_and_read_the_audit_log(live_api: LiveApi) -> None:
    for user in ("viewer", "analyst"):
        assert live_api.client(user).get("/api/v1/users").status_code == 403
        assert live_api.client(user).get("/api/v1/audit").status_code == 403
    body = {"name": "newbie", "role": "viewer", "tenants": ["tenant-b"], "password": "long enough pw"}
    created = live_api.client("admin").post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "newbie",
        "role": "viewer",
        "tenants": ["tenant-b"],
        "disabled": False,
        "tokens": 0,
    }
    assert live_api.client("admin").post("/api/v1/users", json=body).status_code == 409
    changed = live_api.client("admin").patch(
        "/api/v1/users/newbie", json={"role": "analyst", "disabled": True}
    )
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert httpx.get(f"{live_api.base_url}/api/v1/me", auth=("newbie", "long enough pw")).status_code == 401
    audit = live_api.client("admin").get("/api/v1/audit", params={"actor": "admin", "limit": 2}).json()
    assert [e["action"] for e in audit["items"]] == ["user.update", "user.create"]
    assert audit["items"][0]["before"]["role"] == "viewer" and audit["items"][0]["after"]["role"] == "analyst"
    assert "long enough pw" not in str(audit)


def test_an_admin_cannot_lock_themselves_out(live_api: LiveApi) -> None:
    response = live_api.client("admin").patch("/api/v1/users/admin", json={"disabled": True})
    assert response.status_code == 409


def test_audit_pages_follow_the_cursor_without_repeats(live_api: LiveApi) -> None:
    admin = live_api.client("admin")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/api/v1/audit", params=params).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) >= 5
    assert admin.get("/api/v1/audit", params={"cursor": "bm9wZQ"}).status_code == 422


@pytest.mark.parametrize(
    "body", [{"disabled": 0}, {"role": "root"}, {"tenants": [""]}, {"password": "short"}, {"x": 1}]
)
def test_bad_user_changes_are_422_and_values_are_not_coerced(
    live_api: LiveApi, body: dict[str, object]
) -> None:
    response = live_api.client("admin").patch("/api/v1/users/viewer", json=body)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("scheme", ["basic", "token"])
def test_a_disabled_user_is_refused_at_once_when_disabled_here_and_within_the_cache_ttl_from_elsewhere(
    live_api: LiveApi, scheme: str
) -> None:
    name = f"cached-{scheme}"
    accounts.add_user(
        live_api.engine, name, role="viewer", password="long enough pw", tenants=[], actor="test"
    )
    if scheme == "basic":
        header = "Basic " + base64.b64encode(f"{name}:long enough pw".encode()).decode()
    else:
        token = accounts.create_token(live_api.engine, name, expires_in=None, actor="test").secret
        header = f"Bearer {token}"

    def status() -> int:
        return httpx.get(f"{live_api.base_url}/api/v1/me", headers={"Authorization": header}).status_code

    assert status() == 200 and status() == 200  # the second answered from the sign-in cache
    accounts.update_user(live_api.engine, name, actor="test", disabled=True)
    assert status() == 401  # this process's change clears the cache
    accounts.update_user(live_api.engine, name, actor="test", disabled=False)
    assert status() == 200 and status() == 200
    # another process (`alertflow users disable`) writes the row without touching this cache
    with live_api.engine.begin() as conn:
        conn.execute(ApiUser.__table__.update().where(ApiUser.__table__.c.name == name).values(disabled=True))
    started = time.monotonic()
    while status() == 200:
        assert time.monotonic() - started < accounts.SIGNED_IN.ttl_s + 1, "still signed in after the TTL"
        time.sleep(0.05)
    assert status() == 401
