"""JIRA tasks through the jira SDK against a local server answering JIRA REST v2 JSON."""

from __future__ import annotations

import base64
import json
import time

import pytest
from pytest_httpserver import HTTPServer

from alertmodel.errors import (
    IntegrationError,
    ServiceAuthError,
    ServiceNotFoundError,
    ServiceRateLimitedError,
    ServiceTimeoutError,
)
from blocks.jira import JiraSite
from tasks.jira import add_jira_comment, alert_label, create_jira_issue, file_alert_in_jira
from tests.tasks.conftest import SAMPLE_ALERT, StalledServer, assert_secret_absent

TOKEN = "ATATT3xFfGF0T0k3nS3cr3tV4lu3"
SERVER_INFO = {
    "baseUrl": "https://soc.atlassian.net",
    "version": "1001.0.0-SNAPSHOT",
    "versionNumbers": [1001, 0, 0],
    "deploymentType": "Cloud",
    "buildNumber": 100270,
    "buildDate": "2026-11-20T09:12:04.000+0000",
    "serverTime": "2026-11-23T16:00:00.000+0000",
    "scmInfo": "5e1f7e4c1d5a2b3c4d5e6f708192a3b4c5d6e7f8",
    "serverTitle": "Jira",
}


def issue_json(base: str, key: str = "SOC-24") -> dict:
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": "10024",
        "self": f"{base}rest/api/2/issue/10024",
        "key": key,
        "fields": {
            "summary": "[Critical] Suricata 2010935: ET SCAN Suspicious inbound to MSSQL port 1433",
            "issuetype": {
                "self": f"{base}rest/api/2/issuetype/10002",
                "id": "10002",
                "name": "Task",
                "subtask": False,
            },
            "project": {
                "self": f"{base}rest/api/2/project/10000",
                "id": "10000",
                "key": "SOC",
                "name": "SOC",
            },
            "priority": {"self": f"{base}rest/api/2/priority/1", "name": "Highest", "id": "1"},
            "labels": ["alertflow"],
            "status": {"self": f"{base}rest/api/2/status/10000", "name": "To Do", "id": "10000"},
        },
    }


def site(httpserver: HTTPServer, **overrides: object) -> JiraSite:
    fields = {
        "url": httpserver.url_for("/"),
        "username": "soc@example.org",
        "api_token": TOKEN,
        "project": "SOC",
        "timeout_s": 10.0,
        "max_retry_after_s": 5.0,
    }
    fields.update(overrides)
    return JiraSite(**fields)


def serve_server_info(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rest/api/2/serverInfo", method="GET").respond_with_json(SERVER_INFO)


def search_answer(issues: list[dict]) -> dict:
    """What JIRA Cloud's enhanced search (GET /rest/api/2/search/jql) answers: a page and no next token."""
    return {"issues": issues, "isLast": True}


def serve_no_labelled_issue(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/rest/api/2/search/jql", method="GET").respond_with_json(search_answer([]))


async def test_an_alert_becomes_an_issue_with_priority_labels_and_basic_auth(httpserver: HTTPServer) -> None:
    serve_server_info(httpserver)
    serve_no_labelled_issue(httpserver)
    auth = "Basic " + base64.b64encode(f"soc@example.org:{TOKEN}".encode()).decode()
    base = httpserver.url_for("/")
    httpserver.expect_oneshot_request(
        "/rest/api/2/issue", method="POST", headers={"Authorization": auth}
    ).respond_with_json({"id": "10024", "key": "SOC-24", "self": f"{base}rest/api/2/issue/10024"}, status=201)
    httpserver.expect_request("/rest/api/2/issue/SOC-24", method="GET").respond_with_json(issue_json(base))

    issue = await file_alert_in_jira.fn(site(httpserver), SAMPLE_ALERT)

    assert (issue.key, issue.id, issue.url) == ("SOC-24", "10024", f"{base}browse/SOC-24")
    created = next(json.loads(r.data) for r, _ in httpserver.log if r.method == "POST")
    fields = created["fields"]
    assert fields["project"] == {"key": "SOC"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["priority"] == {"name": "Highest"}
    assert fields["summary"].startswith("[Critical] Suricata 2010935")
    assert fields["labels"] == [
        "Attempted_Information_Leak",
        "alertflow",
        f"alertflow-{SAMPLE_ALERT['alert_uuid']}",
    ]
    assert "||Source|203.0.113.5:51544|" in fields["description"]
    httpserver.check_assertions()


async def test_an_alert_whose_labelled_issue_exists_is_not_filed_again(httpserver: HTTPServer) -> None:
    serve_server_info(httpserver)
    base = httpserver.url_for("/")
    found = {k: v for k, v in issue_json(base, "SOC-24").items() if k in ("expand", "id", "self", "key")}
    httpserver.expect_oneshot_request("/rest/api/2/search/jql", method="GET").respond_with_json(
        search_answer([found])
    )

    issue = await file_alert_in_jira.fn(site(httpserver), SAMPLE_ALERT)

    assert (issue.key, issue.id, issue.url) == ("SOC-24", "10024", f"{base}browse/SOC-24")
    assert [r.method for r, _ in httpserver.log if r.path.startswith("/rest/api/2/issue")] == []
    search = next(r for r, _ in httpserver.log if r.path == "/rest/api/2/search/jql")
    assert search.args["jql"] == f'labels = "alertflow-{SAMPLE_ALERT["alert_uuid"]}" ORDER BY created ASC'
    assert search.args["maxResults"] == "1"
    httpserver.check_assertions()


async def test_jira_server_is_searched_on_its_own_endpoint(httpserver: HTTPServer) -> None:
    base = httpserver.url_for("/")
    server = {**SERVER_INFO, "deploymentType": "Server", "version": "9.12.2", "versionNumbers": [9, 12, 2]}
    httpserver.expect_request("/rest/api/2/serverInfo").respond_with_json(server)
    httpserver.expect_request("/rest/api/2/field").respond_with_json(
        [{"id": "labels", "name": "Labels", "clauseNames": ["labels"]}]
    )
    httpserver.expect_oneshot_request("/rest/api/2/search", method="GET").respond_with_json(
        {"startAt": 0, "maxResults": 1, "total": 1, "issues": [{"id": "10030", "key": "SOC-30"}]}
    )

    issue = await file_alert_in_jira.fn(site(httpserver), SAMPLE_ALERT)

    assert (issue.key, issue.url) == ("SOC-30", f"{base}browse/SOC-30")
    assert not any(r.method == "POST" for r, _ in httpserver.log)
    httpserver.check_assertions()


def test_only_a_canonical_uuid_reaches_the_label() -> None:
    assert alert_label("6F1C2A4E0B7D5C3E9A8F1E2D3C4B5A69") == "alertflow-6f1c2a4e-0b7d-5c3e-9a8f-1e2d3c4b5a69"
    with pytest.raises(IntegrationError, match="not a UUID") as caught:
        alert_label('x" OR project = SOC')
    assert "project" not in str(caught.value)


async def test_a_personal_access_token_is_sent_as_bearer(httpserver: HTTPServer) -> None:
    serve_server_info(httpserver)
    base = httpserver.url_for("/")
    httpserver.expect_oneshot_request(
        "/rest/api/2/issue", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json({"id": "10025", "key": "OPS-3", "self": f"{base}rest/api/2/issue/10025"}, status=201)
    httpserver.expect_request("/rest/api/2/issue/OPS-3").respond_with_json(issue_json(base, "OPS-3"))

    issue = await create_jira_issue.fn(
        site(httpserver, username=None), "disk full", "web1 /var at 100%", severity=0, project="OPS"
    )

    assert issue.key == "OPS-3"
    fields = next(json.loads(r.data) for r, _ in httpserver.log if r.method == "POST")["fields"]
    assert (fields["project"], fields["priority"]) == ({"key": "OPS"}, {"name": "Low"})
    httpserver.check_assertions()


async def test_a_comment_is_added(httpserver: HTTPServer) -> None:
    serve_server_info(httpserver)
    base = httpserver.url_for("/")
    httpserver.expect_oneshot_request("/rest/api/2/issue/SOC-24/comment", method="POST").respond_with_json(
        {
            "self": f"{base}rest/api/2/issue/10024/comment/10100",
            "id": "10100",
            "author": {"accountId": "5b10a2844c20165700ede21g", "displayName": "alertflow"},
            "body": "playbook isolate-host completed",
            "created": "2026-11-23T16:05:00.000+0000",
            "updated": "2026-11-23T16:05:00.000+0000",
        },
        status=201,
    )

    comment = await add_jira_comment.fn(site(httpserver), "SOC-24", "playbook isolate-host completed")

    assert (comment.issue_key, comment.id) == ("SOC-24", "10100")
    assert json.loads(httpserver.log[-1][0].data) == {"body": "playbook isolate-host completed"}
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        (401, {"errorMessages": ["You are not authenticated."], "errors": {}}, ServiceAuthError),
        (
            404,
            {
                "errorMessages": ["Issue does not exist or you do not have permission to see it."],
                "errors": {},
            },
            ServiceNotFoundError,
        ),
    ],
)
async def test_jira_errors_are_named_and_never_carry_the_auth_header(
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    answer: dict,
    error: type[Exception],
) -> None:
    serve_server_info(httpserver)
    httpserver.expect_request("/rest/api/2/issue/SOC-9/comment").respond_with_json(answer, status=status)

    with pytest.raises(error) as caught:
        await add_jira_comment.fn(site(httpserver), "SOC-9", "x")

    assert str(caught.value).startswith("JIRA: ")
    assert answer["errorMessages"][0] in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    basic = base64.b64encode(f"soc@example.org:{TOKEN}".encode()).decode()
    assert_secret_absent(TOKEN, caught.value, caplog)
    assert_secret_absent(basic, caught.value, caplog)


async def test_a_429_is_retried_after_retry_after_and_a_lasting_one_fails(httpserver: HTTPServer) -> None:
    serve_server_info(httpserver)
    httpserver.expect_oneshot_request("/rest/api/2/issue/SOC-24/comment").respond_with_data(
        "Rate limit exceeded.", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request("/rest/api/2/issue/SOC-24/comment").respond_with_json(
        {"id": "10101", "body": "x"}, status=201
    )
    started = time.monotonic()
    assert (await add_jira_comment.fn(site(httpserver), "SOC-24", "x")).id == "10101"
    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured

    httpserver.expect_request("/rest/api/2/issue/SOC-24/comment").respond_with_data(
        "Rate limit exceeded.", status=429, headers={"Retry-After": "1"}
    )
    with pytest.raises(ServiceRateLimitedError, match="JIRA"):
        await add_jira_comment.fn(site(httpserver, max_retries=1), "SOC-24", "x")


async def test_a_slow_jira_is_a_timeout_error(
    stalled: StalledServer, caplog: pytest.LogCaptureFixture
) -> None:
    serve_server_info(stalled.server)
    stalled.server.expect_request("/rest/api/2/issue").respond_with_handler(stalled.stall())
    with pytest.raises(ServiceTimeoutError, match="JIRA") as caught:
        await create_jira_issue.fn(site(stalled.server, timeout_s=0.5), "s", "d")
    assert_secret_absent(TOKEN, caught.value, caplog)
