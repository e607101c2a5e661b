"""A Slack workspace: prefect-slack's `SlackCredentials` plus where alertflow posts and how patiently."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect_slack import SlackCredentials
from pydantic import Field
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient


class BoundedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, but a Retry-After longer than the cap is not waited out."""

    def __init__(self, max_retry_count: int, max_wait_s: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    async def _can_retry_async(
        self, *, state: Any, request: Any, response: Any = None, error: Any = None
    ) -> bool:
        return (
            response is not None and response.status_code == 429 and self._wait(response) <= self.max_wait_s
        )

    async def prepare_for_next_attempt_async(
        self, *, state: Any, request: Any, response: Any = None, error: Any = None
    ) -> None:
        state.next_attempt_requested = True
        await asyncio.sleep(self._wait(response))
        state.increment_current_attempt()

    @staticmethod
    def _wait(response: Any) -> float:
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                try:
                    return float(values[0] if isinstance(values, list) else values)
                except ValueError:
                    break
        return 1.0


class SlackWorkspace(SlackCredentials):
    """A Slack bot token (prefect-slack's block) with the channel alerts go to and the API's address."""

    _block_type_name = "alertflow Slack Workspace"
    _description = "Slack bot for alert notifications: prefect-slack SlackCredentials plus a default channel."

    default_channel: str = Field(description="Channel ID or #name notifications go to when none is given.")
    base_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL (change only for a proxy)."
    )
    timeout_s: int = Field(default=30, gt=0, description="Seconds to wait for each Slack answer.")
    max_retries: int = Field(
        default=3, ge=0, description="Retries on rate limits, 5xx and dropped connections."
    )
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest Retry-After wait honoured; a longer one fails the call."
    )

    def get_client(self) -> AsyncWebClient:
        """An `AsyncWebClient` on `base_url` with bounded retries for 429, 5xx and dropped connections."""
        return AsyncWebClient(
            token=self.token.get_secret_value(),
            base_url=self.base_url,
            timeout=self.timeout_s,
            retry_handlers=[
                BoundedRateLimitRetryHandler(self.max_retries, self.max_retry_after_s),
                AsyncServerErrorRetryHandler(max_retry_count=self.max_retries),
                AsyncConnectionErrorRetryHandler(max_retry_count=self.max_retries),
            ],
        )
