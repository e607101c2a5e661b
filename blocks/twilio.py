"""A Twilio account that sends SMS notifications."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class TwilioAccount(Block):
    """A Twilio account and the number SMS are sent from."""

    _block_type_name = "alertflow Twilio Account"
    _description = "Twilio account (SID + auth token) and sender number for SMS notifications."

    account_sid: str = Field(description="Account SID, starting with AC.")
    auth_token: SecretStr = Field(description="Auth token of the account.")
    from_number: str = Field(
        description="Sender number in E.164 form (+14155550100) or a messaging service SID."
    )
    api_base_url: str = Field(
        default="https://api.twilio.com", description="Twilio REST API base URL (change only for a proxy)."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Seconds to wait for each Twilio answer.")
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/503 and refused connections.")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest Retry-After wait honoured before giving up."
    )
