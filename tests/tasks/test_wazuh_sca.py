"""Wazuh SCA answers → posture checks; a refused login names no secret."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from alertmodel.errors import ServiceAuthError
from blocks.wazuh import WazuhApi
from tasks.wazuh_sca import fetch_wazuh_sca, sca_checks
from tests.tasks.conftest import assert_secret_absent

ITEMS = [
    {
        "id": 28500,
        "title": "Ensure SSH root login is disabled",
        "result": "failed",
        "compliance": [{"key": "cis", "value": "5.2.10"}],
    },
    {"id": 28501, "title": "Ensure SSH X11 forwarding is disabled", "result": "passed", "compliance": []},
    {"id": 28502, "title": "Ensure AIDE is installed", "result": "not applicable"},
    {"id": 28503, "title": "Ensure auditd is installed", "result": "failed"},
    "not an object",
]


def test_only_failed_checks_become_findings_keyed_by_policy_and_check() -> None:
    checks = sca_checks("cis_debian11", ITEMS)  # type: ignore[arg-type]
    assert [(c.check_id, c.title, c.severity) for c in checks] == [
        ("cis_debian11:28500", "Ensure SSH root login is disabled", 2),
        ("cis_debian11:28503", "Ensure auditd is installed", 2),
    ]
    assert checks[0].detail == "SCA policy cis_debian11 check 28500 failed; cis:5.2.10"


async def test_a_refused_login_is_an_auth_error_without_the_password(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/security/user/authenticate", method="POST").respond_with_json(
        {"title": "Unauthorized", "detail": "Invalid credentials"}, status=401
    )
    secret = "wazuh-pw-7f3a9c"
    api = WazuhApi(url=httpserver.url_for("/"), username="wazuh-wui", password=secret)
    with pytest.raises(ServiceAuthError) as caught:
        await fetch_wazuh_sca.fn(api, ["001"])
    assert_secret_absent(secret, caught.value, caplog)


async def test_an_agent_id_that_is_not_a_wazuh_id_is_refused_before_any_request(
    httpserver: HTTPServer,
) -> None:
    api = WazuhApi(url=httpserver.url_for("/"), username="u", password="p")
    with pytest.raises(ValueError, match="is not a Wazuh agent id"):
        await fetch_wazuh_sca.fn(api, ["../agents"])
    assert httpserver.log == []
