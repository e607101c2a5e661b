"""Ports, limits and listeners of `alertflow up` (environment: ALERTFLOW_UP_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UpSettings(BaseSettings):
    """Ports and limits of `alertflow up` (environment: ALERTFLOW_UP_*)."""

    model_config = SettingsConfigDict(env_prefix="ALERTFLOW_UP_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address every listener binds to.")
    prefect_port: int = Field(default=4200, ge=1, le=65535, description="Port of the local Prefect server.")
    ui: bool = Field(default=True, description="Serve the Prefect UI from the local server.")
    ingest_port: int = Field(default=8480, ge=1, le=65535, description="Port of the HTTP ingest endpoint.")
    serve_limit: int = Field(default=4, ge=1, le=32, description="Flow runs executing at once.")
    late_grace_s: float = Field(
        default=900, gt=0, description="An auto-scheduled run this late (s) is skipped as Missed."
    )
    late_check_s: float = Field(default=15, gt=0, description="How often late runs are looked for (s).")
    ready_timeout_s: float = Field(default=120, gt=0, description="Give up starting after this long (s).")
    drop_quiet_s: float = Field(
        default=5, ge=0, description="A dropped file is taken once it has not changed for this long (s)."
    )

    @property
    def prefect_api_url(self) -> str:
        """Where the local Prefect server's API answers."""
        return f"http://{_url_host(self.host)}:{self.prefect_port}/api"


def _url_host(host: str) -> str:
    """`host` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
