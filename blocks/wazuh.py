"""A Wazuh manager's REST API (port 55000): where the agents' SCA results are read from."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class WazuhApi(Block):
    """The Wazuh server API, reached with a user that may read agents and SCA results (`sca:read`)."""

    _block_type_name = "alertflow Wazuh API"
    _description = "Wazuh manager REST API (JWT login with a user and password) for SCA results."

    url: str = Field(description="Base URL of the Wazuh API, e.g. https://wazuh.example.org:55000.")
    username: str = Field(description="API user (needs agent:read and sca:read).")
    password: SecretStr = Field(description="Password of the API user.")
    verify_tls: bool = Field(
        default=True, description="Verify the API's TLS certificate (turn off only for labs)."
    )
    ca_bundle: str | None = Field(
        default=None,
        description="Path of a CA bundle to verify the API's certificate with, if not the system one.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Seconds to wait for each answer.")

    def tls_verify(self) -> bool | str:
        """What httpx takes as `verify`: the CA bundle path, or the on/off switch."""
        if self.verify_tls and self.ca_bundle:
            return self.ca_bundle
        return self.verify_tls
