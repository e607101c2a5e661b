"""TheHive tasks through thehive4py 2.x against a local server answering TheHive 5's /api/v1 JSON."""

from __future__ import annotations

import json
import time

import pytest
from pytest_httpserver import HTTPServer

from alertmodel.errors import (
    ServiceAuthError,
    ServiceNotFoundError,
    ServiceRateLimitedError,
    ServiceServerError,
    ServiceTimeoutError,
)
from blocks.thehive import TheHiveServer
from tasks.thehive import create_thehive_alert, create_thehive_case, observables_of, update_thehive_status
from tests.tasks.conftest import SAMPLE_ALERT, StalledServer, assert_secret_absent

KEY = "hIvEaPiKeY+0123456789abcdefghij"
FILE_ALERT = {
    **SAMPLE_ALERT,
    "alert_uuid": "0e9d8c7b-6a5f-5e4d-8c3b-2a1f0e9d8c7b",
    "source": "Wazuh",
    "srcip": "indef",
    "dstip": "indef",
    "file": "/usr/bin/sshd",
    "hash_md5": "44d88612fea8a8f36de82e1278abb02f",
    "hash_sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
}


def output_alert(alert_id: str = "~40964200", status: str = "New") -> dict:
    return {
        "_id": alert_id,
        "_type": "Alert",
        "_createdBy": "alertflow@soc.local",
        "_createdAt": 1763913600000,
        "type": "alertflow",
        "source": "alertflow",
        "sourceRef": SAMPLE_ALERT["alert_uuid"],
        "title": "[Critical] Suricata 2010935: ET SCAN Suspicious inbound to MSSQL port 1433",
        "description": "...",
        "severity": 4,
        "severityLabel": "CRITICAL",
        "date": 1763913600000,
        "tags": ["Attempted Information Leak"],
        "tlp": 2,
        "tlpLabel": "AMBER",
        "pap": 2,
        "papLabel": "AMBER",
        "follow": True,
        "customFields": [],
        "observableCount": 2,
        "status": status,
        "stage": "New",
        "extraData": {},
        "newDate": 1763913600000,
        "timeToDetect": 0,
    }


def hive(httpserver: HTTPServer, **overrides: object) -> TheHiveServer:
    fields = {"url": httpserver.url_for("/"), "api_key": KEY, "timeout_s": 10.0, "max_retry_after_s": 5.0}
    fields.update(overrides)
    return TheHiveServer(**fields)


def test_observables_are_the_known_ips_hashes_files_and_urls_once_each() -> None:
    assert observables_of([SAMPLE_ALERT, SAMPLE_ALERT, FILE_ALERT]) == [
        {"dataType": "ip", "data": "203.0.113.5", "message": "alertflow srcip"},
        {"dataType": "ip", "data": "10.0.0.8", "message": "alertflow dstip"},
        {"dataType": "hash", "data": "44d88612fea8a8f36de82e1278abb02f", "message": "alertflow hash_md5"},
        {
            "dataType": "hash",
            "data": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
            "message": "alertflow hash_sha256",
        },
        {"dataType": "filename", "data": "/usr/bin/sshd", "message": "alertflow file"},
    ]


def serve_alert_query(httpserver: HTTPServer, *found: dict) -> None:
    """TheHive 5's answer to thehive4py's alert.find: POST /api/v1/query?name=alerts, a JSON list."""
    httpserver.expect_oneshot_request(
        "/api/v1/query", method="POST", query_string="name=alerts"
    ).respond_with_json(list(found))


async def test_an_alert_is_created_with_observables_severity_and_bearer_key(httpserver: HTTPServer) -> None:
    serve_alert_query(httpserver)
    httpserver.expect_oneshot_request(
        "/api/v1/alert", method="POST", headers={"Authorization": f"Bearer {KEY}"}
    ).respond_with_json(output_alert(), status=201)

    ref = await create_thehive_alert.fn(hive(httpserver), SAMPLE_ALERT)

    assert (ref.id, ref.kind, ref.status) == ("~40964200", "alert", "New")
    assert [r.path for r, _ in httpserver.log] == ["/api/v1/query", "/api/v1/alert"]
    body = json.loads(httpserver.log[1][0].data)
    assert (body["type"], body["source"], body["sourceRef"]) == (
        "alertflow",
        "alertflow",
        SAMPLE_ALERT["alert_uuid"],
    )
    assert body["severity"] == 4
    assert body["tags"] == ["Attempted Information Leak"]
    assert [o["data"] for o in body["observables"]] == ["203.0.113.5", "10.0.0.8"]
    httpserver.check_assertions()


async def test_an_alert_that_exists_already_is_found_and_not_created_again(httpserver: HTTPServer) -> None:
    serve_alert_query(httpserver, output_alert("~40964200", "Imported"))

    ref = await create_thehive_alert.fn(hive(httpserver), SAMPLE_ALERT)

    assert (ref.id, ref.status) == ("~40964200", "Imported")
    assert [(r.method, r.path) for r, _ in httpserver.log] == [("POST", "/api/v1/query")]
    query = json.loads(httpserver.log[0][0].data)["query"]
    assert query[0] == {"_name": "listAlert"}
    assert {"_field": "sourceRef", "_value": SAMPLE_ALERT["alert_uuid"]} in [
        f["_eq"] for f in query[1]["_and"]
    ]
    httpserver.check_assertions()


async def test_an_alert_created_meanwhile_by_another_run_is_found_after_the_conflict(
    httpserver: HTTPServer,
) -> None:
    serve_alert_query(httpserver)
    httpserver.expect_oneshot_request("/api/v1/alert", method="POST").respond_with_json(
        {"type": "CreateError", "message": "Alert already exists"}, status=400
    )
    serve_alert_query(httpserver, output_alert("~40964200", "New"))

    ref = await create_thehive_alert.fn(hive(httpserver), SAMPLE_ALERT)

    assert ref.id == "~40964200"
    assert [r.path for r, _ in httpserver.log] == ["/api/v1/query", "/api/v1/alert", "/api/v1/query"]
    httpserver.check_assertions()


async def test_a_case_is_opened_and_gets_each_observable(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v1/case", method="POST").respond_with_json(
        {
            "_id": "~122884200",
            "_type": "Case",
            "_createdBy": "alertflow@soc.local",
            "_createdAt": 1763913600000,
            "number": 42,
            "title": "Incident #7",
            "description": "...",
            "severity": 3,
            "severityLabel": "HIGH",
            "startDate": 1763913600000,
            "tags": ["alertflow"],
            "flag": False,
            "tlp": 2,
            "tlpLabel": "AMBER",
            "pap": 2,
            "papLabel": "AMBER",
            "status": "New",
            "stage": "New",
            "assignee": "alertflow@soc.local",
            "customFields": [],
            "userPermissions": [],
            "extraData": {},
            "newDate": 1763913600000,
            "timeToDetect": 0,
        },
        status=201,
    )
    httpserver.expect_request("/api/v1/case/~122884200/observable", method="POST").respond_with_json(
        [{"_id": "~8392", "_type": "Observable", "dataType": "ip", "data": "203.0.113.5"}], status=201
    )

    ref = await create_thehive_case.fn(
        hive(httpserver), "Incident #7", [SAMPLE_ALERT, FILE_ALERT], severity=2, tags=["alertflow"]
    )

    assert (ref.id, ref.kind, ref.number) == ("~122884200", "case", 42)
    case = json.loads(httpserver.log[0][0].data)
    assert (case["title"], case["severity"], case["tags"]) == ("Incident #7", 3, ["alertflow"])
    posted = [json.loads(r.data)["data"] for r, _ in httpserver.log[1:]]
    assert posted == [
        "203.0.113.5",
        "10.0.0.8",
        "44d88612fea8a8f36de82e1278abb02f",
        FILE_ALERT["hash_sha256"],
        "/usr/bin/sshd",
    ]


async def test_status_updates_patch_the_alert_or_case(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v1/alert/~40964200", method="PATCH").respond_with_data(
        "", status=204
    )
    httpserver.expect_oneshot_request("/api/v1/case/~122884200", method="PATCH").respond_with_data(
        "", status=204
    )

    await update_thehive_status.fn(hive(httpserver), "alert", "~40964200", "Ignored")
    ref = await update_thehive_status.fn(hive(httpserver), "case", "~122884200", "TruePositive")

    assert ref.status == "TruePositive"
    assert [json.loads(r.data) for r, _ in httpserver.log] == [
        {"status": "Ignored"},
        {"status": "TruePositive"},
    ]
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        (401, {"type": "AuthenticationError", "message": "Authentication failure"}, ServiceAuthError),
        (404, {"type": "NotFoundError", "message": "Alert ~1 not found"}, ServiceNotFoundError),
        (500, {"type": "InternalError", "message": "boom"}, ServiceServerError),
    ],
)
async def test_thehive_errors_become_named_project_errors(
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    status: int,
    answer: dict,
    error: type[Exception],
) -> None:
    httpserver.expect_request("/api/v1/alert/~1", method="PATCH").respond_with_json(answer, status=status)
    with pytest.raises(error) as caught:
        await update_thehive_status.fn(hive(httpserver, max_retries=1), "alert", "~1", "Ignored")
    assert str(caught.value).startswith("TheHive: ")
    assert answer["message"] in str(caught.value)
    assert_secret_absent(KEY, caught.value, caplog)


async def test_updates_are_retried_on_503_and_on_429_after_retry_after(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request("/api/v1/alert/~1").respond_with_data("", status=503)
    httpserver.expect_oneshot_request("/api/v1/alert/~1").respond_with_json(
        {"type": "TooManyRequests", "message": "slow down"}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request("/api/v1/alert/~1").respond_with_data("", status=204)

    started = time.monotonic()
    await update_thehive_status.fn(hive(httpserver), "alert", "~1", "Ignored")

    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured
    assert len(httpserver.log) == 3


async def test_a_lasting_429_is_a_rate_limit_error(httpserver: HTTPServer) -> None:
    serve_alert_query(httpserver)
    httpserver.expect_request("/api/v1/alert").respond_with_json(
        {"type": "TooManyRequests", "message": "slow down"}, status=429, headers={"Retry-After": "1"}
    )
    with pytest.raises(ServiceRateLimitedError, match="TheHive"):
        await create_thehive_alert.fn(hive(httpserver, max_retries=1), SAMPLE_ALERT)
    assert [r.path for r, _ in httpserver.log] == ["/api/v1/query", "/api/v1/alert", "/api/v1/alert"]


async def test_a_slow_thehive_is_a_timeout_error(
    stalled: StalledServer, caplog: pytest.LogCaptureFixture
) -> None:
    stalled.server.expect_request("/api/v1/query").respond_with_handler(stalled.stall())
    with pytest.raises(ServiceTimeoutError, match="TheHive") as caught:
        await create_thehive_alert.fn(hive(stalled.server, timeout_s=0.5), SAMPLE_ALERT)
    assert_secret_absent(KEY, caught.value, caplog)
