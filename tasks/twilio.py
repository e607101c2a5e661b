"""Twilio jobs: send an SMS (or an alert as SMS) to one or more numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import anyio
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from blocks.run_context import run_logger
from blocks.twilio import TwilioAccount
from tasks._common import guard_secrets, mount_retries, service_errors, status_error
from tasks.notify import sms_text

INTEGRATION = "Twilio"
TWILIO_API = "https://api.twilio.com"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class SmsSent(BaseModel):
    """One SMS Twilio accepted: its SID, recipient and delivery status at acceptance."""

    sid: str
    to: str
    status: str


class _AccountHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending to the block's API base URL with our retries and timeout."""

    def __init__(self, account: TwilioAccount) -> None:
        super().__init__(timeout=account.timeout_s)
        self.api_base_url = account.api_base_url.rstrip("/")
        mount_retries(
            self.session,  # type: ignore[arg-type]
            max_retries=account.max_retries,
            max_retry_after_s=account.max_retry_after_s,
            timeout_s=account.timeout_s,
        )

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        if url.startswith(TWILIO_API):
            url = self.api_base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def _send_sync(account: TwilioAccount, to: Sequence[str], body: str) -> list[SmsSent]:
    token = account.auth_token.get_secret_value()
    guard_secrets(token)
    client = Client(account.account_sid, token, http_client=_AccountHttpClient(account))
    sender = (
        {"messaging_service_sid": account.from_number}
        if account.from_number.startswith("MG")
        else {"from_": account.from_number}
    )
    sent = []
    with service_errors(INTEGRATION, [token]):
        for number in to:
            try:
                message = client.messages.create(to=number, body=body, **sender)
            except TwilioRestException as exc:
                detail = f"sending to {number}: {exc.msg}" + (
                    f" (Twilio error {exc.code})" if exc.code else ""
                )
                raise status_error(INTEGRATION, exc.status, detail, secrets=[token]) from exc
            sent.append(SmsSent(sid=message.sid or "", to=message.to or number, status=str(message.status)))
    return sent


def _check_numbers(to: str | Sequence[str]) -> list[str]:
    numbers = [to] if isinstance(to, str) else list(to)
    if not numbers:
        raise ValueError("give at least one recipient number")
    for number in numbers:
        if not _E164.match(number):
            raise ValueError(f"{number!r} is not an E.164 phone number such as +14155550100")
    return numbers


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def send_sms(account: TwilioAccount, to: str | list[str], body: str) -> list[SmsSent]:
    """Send `body` to each number in `to` (E.164); a project error names the number that failed."""
    numbers = _check_numbers(to)
    if not body or len(body) > 1600:
        raise ValueError("an SMS body must have 1 to 1600 characters")
    sent = await anyio.to_thread.run_sync(lambda: _send_sync(account, numbers, body))
    run_logger().info("Twilio: %d SMS accepted (%s)", len(sent), ", ".join(s.sid for s in sent))
    return sent


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def send_alert_as_sms(
    account: TwilioAccount, alert: dict[str, Any], to: str | list[str]
) -> list[SmsSent]:
    """Send an alertflow alert as a short SMS to each number (a response profile's Twilio action)."""
    return await send_sms.fn(account, to, sms_text(alert))
