"""Twilio SMS through the twilio SDK against a local server answering the Messages resource JSON."""

from __future__ import annotations

import base64
import time

import pytest
from pytest_httpserver import HTTPServer

from alertmodel.errors import (
    ServiceAuthError,
    ServiceRateLimitedError,
    ServiceServerError,
    ServiceTimeoutError,
)
from blocks.twilio import TwilioAccount
from tasks.twilio import send_alert_as_sms, send_sms
from tests.tasks.conftest import SAMPLE_ALERT, StalledServer, assert_secret_absent

SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
TOKEN = "f2d4c6b8a0e1d3c5b7a9f1e3d5c7b9a1"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def message(to: str, sid: str = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") -> dict:
    return {
        "account_sid": SID,
        "api_version": "2010-04-01",
        "body": "hello",
        "date_created": "Mon, 23 Nov 2026 16:00:00 +0000",
        "date_sent": None,
        "date_updated": "Mon, 23 Nov 2026 16:00:00 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": "+14155550100",
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{SID}/Messages/{sid}/Media.json"},
        "to": to,
        "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
    }


def account(httpserver: HTTPServer, **overrides: object) -> TwilioAccount:
    fields = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "from_number": "+14155550100",
        "api_base_url": httpserver.url_for("").rstrip("/"),
        "timeout_s": 10.0,
    }
    fields.update(overrides)
    return TwilioAccount(**fields)


async def test_an_sms_per_number_is_posted_with_basic_auth(httpserver: HTTPServer) -> None:
    auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    httpserver.expect_ordered_request(PATH, method="POST", headers={"Authorization": auth}).respond_with_json(
        message("+15005550006", "SM1"), status=201
    )
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(
        message("+15005550007", "SM2"), status=201
    )

    sent = await send_sms.fn(account(httpserver), ["+15005550006", "+15005550007"], "disk full on web1")

    assert [(s.sid, s.to, s.status) for s in sent] == [
        ("SM1", "+15005550006", "queued"),
        ("SM2", "+15005550007", "queued"),
    ]
    form = httpserver.log[0][0].form.to_dict(flat=False)
    assert form == {"To": ["+15005550006"], "From": ["+14155550100"], "Body": ["disk full on web1"]}
    httpserver.check_assertions()


async def test_an_alert_becomes_a_short_sms(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(message("+15005550006"), status=201)
    await send_alert_as_sms.fn(account(httpserver), SAMPLE_ALERT, "+15005550006")
    body = httpserver.log[0][0].form["Body"]
    assert body.startswith("[Critical] Suricata 2010935") and "203.0.113.5:51544 -> 10.0.0.8:1433" in body


async def test_a_number_not_in_e164_is_refused_before_sending() -> None:
    acct = TwilioAccount(account_sid=SID, auth_token=TOKEN, from_number="+14155550100")
    with pytest.raises(ValueError, match=r"E\.164"):
        await send_sms.fn(acct, ["0044 20 7946 0000"], "x")


async def test_bad_credentials_are_an_auth_error_without_the_token(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        },
        status=401,
    )
    with pytest.raises(ServiceAuthError, match=r"Twilio: .*20003") as caught:
        await send_sms.fn(account(httpserver), ["+15005550006"], "x")
    assert_secret_absent(TOKEN, caught.value, caplog)


async def test_a_429_is_retried_after_retry_after_and_a_lasting_one_fails(httpserver: HTTPServer) -> None:
    too_many = {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    httpserver.expect_oneshot_request(PATH).respond_with_json(
        too_many, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request(PATH).respond_with_json(message("+15005550006"), status=201)
    started = time.monotonic()
    assert len(await send_sms.fn(account(httpserver), ["+15005550006"], "x")) == 1
    assert time.monotonic() - started >= 0.95  # Retry-After: 1 was honoured

    httpserver.expect_request(PATH).respond_with_json(too_many, status=429, headers={"Retry-After": "1"})
    with pytest.raises(ServiceRateLimitedError, match="Twilio"):
        await send_sms.fn(account(httpserver, max_retries=1), ["+15005550006"], "x")


async def test_a_500_after_a_post_is_not_repeated_blindly(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"code": 20500, "message": "Internal Server Error", "status": 500}, status=500
    )
    with pytest.raises(ServiceServerError, match="Twilio"):
        await send_sms.fn(account(httpserver), ["+15005550006"], "x")
    assert len(httpserver.log) == 1  # the SMS may have gone out: never send it twice


async def test_a_slow_twilio_is_a_timeout_error(
    stalled: StalledServer, caplog: pytest.LogCaptureFixture
) -> None:
    stalled.server.expect_request(PATH).respond_with_handler(stalled.stall())
    with pytest.raises(ServiceTimeoutError, match="Twilio") as caught:
        await send_sms.fn(account(stalled.server, timeout_s=0.5), ["+15005550006"], "x")
    assert_secret_absent(TOKEN, caught.value, caplog)
