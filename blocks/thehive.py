"""A TheHive 5 instance that receives alerts and cases."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class TheHiveServer(Block):
    """A TheHive 5 instance reached with an API key (thehive4py 2.x)."""

    _block_type_name = "alertflow TheHive Server"
    _description = "TheHive 5 instance: alerts and cases created from alertflow alerts and incidents."

    url: str = Field(description="Base URL of TheHive, e.g. https://thehive.example.org.")
    api_key: SecretStr = Field(description="API key of the TheHive user alertflow acts as.")
    organisation: str | None = Field(
        default=None, description="Organisation to act in, when the user belongs to several."
    )
    alert_type: str = Field(default="alertflow", description="`type` given to alerts alertflow creates.")
    alert_source: str = Field(default="alertflow", description="`source` given to alerts alertflow creates.")
    verify_tls: bool = Field(
        default=True, description="Verify TheHive's TLS certificate (turn off only for labs)."
    )
    ca_bundle: str | None = Field(
        default=None,
        description="Path of a CA bundle to verify TheHive's certificate with, if not the system one.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Seconds to wait for each TheHive answer.")
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx and refused connections.")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest Retry-After wait honoured before giving up."
    )

    def tls_verify(self) -> bool | str:
        """What requests takes as `verify`: the CA bundle path, or the on/off switch."""
        return self.ca_bundle if self.verify_tls and self.ca_bundle else self.verify_tls
