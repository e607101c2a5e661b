"""A MISP instance: where IOC look-ups and new attributes go."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class MispServer(Block):
    """A MISP instance reached through its REST API, and optionally its database for fast IOC look-ups."""

    _block_type_name = "alertflow MISP Server"
    _description = "MISP instance: REST API (pymisp) and optional direct database access for IOC look-ups."

    url: str = Field(description="Base URL of MISP, e.g. https://misp.example.org/.")
    api_key: SecretStr = Field(description="MISP automation (auth) key of the user alertflow acts as.")
    verify_tls: bool = Field(
        default=True, description="Verify MISP's TLS certificate (turn off only for labs)."
    )
    ca_bundle: str | None = Field(
        default=None,
        description="Path of a CA bundle to verify MISP's certificate with, if not the system one.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of MISP's MySQL/MariaDB database (read-only user), e.g. "
        "mysql+pymysql://misp_ro:pass@db:3306/misp; when set, IOC look-ups query the attributes table directly.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Seconds to wait for each MISP answer.")
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx and refused connections.")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest Retry-After wait honoured before giving up."
    )

    def tls_verify(self) -> bool | str:
        """What requests/pymisp take as `verify`: the CA bundle path, or the on/off switch."""
        if self.verify_tls and self.ca_bundle:
            return self.ca_bundle
        return self.verify_tls
