"""Slack jobs: post a message (or an alert) to a channel with chat.postMessage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel
from slack_sdk.errors import SlackApiError

from alertmodel.errors import (
    ServiceAuthError,
    ServiceNotFoundError,
    ServiceServerError,
    ServiceTimeoutError,
)
from blocks.run_context import run_logger
from blocks.slack import SlackWorkspace
from tasks._common import guard_secrets, scrub, status_error
from tasks.notify import alert_facts, alert_title

INTEGRATION = "Slack"
_AUTH_ERRORS = {
    "not_authed",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
}
_MISSING = {"channel_not_found", "not_in_channel", "is_archived"}


class SlackMessage(BaseModel):
    """Where a posted message landed: its channel and timestamp (Slack's message id)."""

    channel: str
    ts: str


def alert_blocks(alert: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Block Kit layout of an alert: a header line and its known facts as fields."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{alert_title(alert)[:2900]}*"}}
    ]
    facts = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"[:2000]} for label, value in alert_facts(alert)]
    for start in range(0, len(facts), 10):  # Slack allows at most 10 fields per section
        blocks.append({"type": "section", "fields": facts[start : start + 10]})
    return blocks


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def send_slack_message(
    slack: SlackWorkspace, text: str, channel: str | None = None, blocks: list[dict[str, Any]] | None = None
) -> SlackMessage:
    """Post `text` (the notification fallback) with optional Block Kit `blocks` to `channel` or the default one."""
    token = slack.token.get_secret_value()
    guard_secrets(token)
    target = channel or slack.default_channel
    try:
        response = await slack.get_client().chat_postMessage(channel=target, text=text, blocks=blocks)
    except SlackApiError as exc:
        code = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
        if code in _AUTH_ERRORS:
            raise ServiceAuthError(
                INTEGRATION, f"rejected the bot token ({code})", status=exc.response.status_code
            ) from exc
        if code in _MISSING:
            raise ServiceNotFoundError(
                INTEGRATION, f"cannot post to {target} ({code})", status=exc.response.status_code
            ) from exc
        detail = code or str(exc.response.data)
        raise status_error(INTEGRATION, exc.response.status_code, detail, secrets=[token]) from exc
    except TimeoutError as exc:
        raise ServiceTimeoutError(INTEGRATION, "did not answer in time") from exc
    except aiohttp.ClientError as exc:
        raise ServiceServerError(
            INTEGRATION, f"could not be reached: {scrub(str(exc), [token])[:300]}"
        ) from exc
    run_logger().info("Slack: posted to %s (ts %s)", response["channel"], response["ts"])
    return SlackMessage(channel=response["channel"], ts=response["ts"])


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def send_alert_to_slack(
    slack: SlackWorkspace, alert: dict[str, Any], channel: str | None = None
) -> SlackMessage:
    """Post an alertflow alert (a row of the alert table) as a Block Kit message (a response profile's Slack action)."""
    return await send_slack_message.fn(slack, alert_title(alert), channel=channel, blocks=alert_blocks(alert))
