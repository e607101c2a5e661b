"""Slack tasks driven through slack-sdk's AsyncWebClient against a local Web API answering Slack's JSON."""

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
from blocks.slack import SlackWorkspace
from tasks.slack import send_alert_to_slack, send_slack_message
from tests.tasks.conftest import SAMPLE_ALERT, StalledServer, assert_secret_absent

TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
POSTED = {
    "ok": True,
    "channel": "C123ABC456",
    "ts": "1503435956.000247",
    "message": {
        "text": "Here's a message for you",
        "username": "ecto1",
        "bot_id": "B123ABC456",
        "type": "message",
        "subtype": "bot_message",
        "ts": "1503435956.000247",
    },
}


def workspace(httpserver: HTTPServer, **overrides: object) -> SlackWorkspace:
    fields = {
        "token": TOKEN,
        "default_channel": "C123ABC456",
        "base_url": httpserver.url_for("/api/"),
        "timeout_s": 10,
    }
    fields.update(overrides)
    return SlackWorkspace(**fields)


async def test_an_alert_is_posted_with_blocks_and_the_bot_token(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/api/chat.postMessage", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json(POSTED)

    posted = await send_alert_to_slack.fn(workspace(httpserver), SAMPLE_ALERT)

    assert (posted.channel, posted.ts) == ("C123ABC456", "1503435956.000247")
    [(request, _)] = httpserver.log
    body = json.loads(request.data)
    assert body["channel"] == "C123ABC456"
    assert body["text"].startswith("[Critical] Suricata 2010935: ET SCAN")
    fields = [f["text"] for b in body["blocks"] for f in b.get("fields", [])]
    assert "*Source*\n203.0.113.5:51544" in fields
    assert not any("indef" in f for f in fields)


async def test_a_message_goes_to_the_given_channel(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/chat.postMessage").respond_with_json(
        {**POSTED, "channel": "C0SOC"}
    )
    posted = await send_slack_message.fn(workspace(httpserver), "hello", channel="C0SOC")
    assert posted.channel == "C0SOC"
    assert json.loads(httpserver.log[0][0].data) == {"channel": "C0SOC", "text": "hello"}


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        ({"ok": False, "error": "invalid_auth"}, 200, ServiceAuthError),
        ({"ok": False, "error": "channel_not_found"}, 200, ServiceNotFoundError),
        ({"ok": False, "error": "fatal_error"}, 500, ServiceServerError),
    ],
)
async def test_slack_errors_become_named_project_errors(
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    answer: dict,
    status: int,
    error: type[Exception],
) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(answer, status=status)
    with pytest.raises(error) as caught:
        await send_slack_message.fn(workspace(httpserver, max_retries=1), "hello")
    assert str(caught.value).startswith("Slack: ")
    assert_secret_absent(TOKEN, caught.value, caplog)


async def test_a_429_waits_for_retry_after_then_posts(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request("/api/chat.postMessage").respond_with_json(POSTED)

    started = time.monotonic()
    posted = await send_slack_message.fn(workspace(httpserver), "hello")

    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured
    assert posted.ts == "1503435956.000247"
    assert len(httpserver.log) == 2


async def test_a_retry_after_beyond_the_cap_is_a_rate_limit_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "3600"}
    )
    with pytest.raises(ServiceRateLimitedError, match="Slack"):
        await send_slack_message.fn(workspace(httpserver, max_retry_after_s=5), "hello")
    assert len(httpserver.log) == 1


async def test_a_5xx_is_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/chat.postMessage").respond_with_data("oops", status=503)
    httpserver.expect_oneshot_request("/api/chat.postMessage").respond_with_json(POSTED)
    assert (await send_slack_message.fn(workspace(httpserver), "hello")).channel == "C123ABC456"
    assert len(httpserver.log) == 2


async def test_a_slow_slack_is_a_timeout_error(
    stalled: StalledServer, caplog: pytest.LogCaptureFixture
) -> None:
    stalled.server.expect_request("/api/chat.postMessage").respond_with_handler(
        stalled.stall(json.dumps(POSTED))
    )
    with pytest.raises(ServiceTimeoutError, match="Slack") as caught:
        await send_slack_message.fn(workspace(stalled.server, timeout_s=1, max_retries=0), "hello")
    assert_secret_absent(TOKEN, caught.value, caplog)
