"""Ports, limits and listeners of `alertflow up` (environment: ALERTFLOW_UP_*)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from alertmodel.errors import ConfigurationError


class UpSettings(BaseSettings):
    """Ports and limits of `alertflow up` (environment: ALERTFLOW_UP_*)."""

    model_config = SettingsConfigDict(env_prefix="ALERTFLOW_UP_", extra="ignore")

    host: str = Field(
        default="127.0.0.1",
        description="Address the listeners bind to; one that is not loopback needs TLS or --insecure.",
    )
    prefect_port: int = Field(default=4200, ge=1, le=65535, description="Port of the local Prefect server.")
    ui: bool = Field(default=True, description="Serve the Prefect UI from the local server.")
    ingest_port: int = Field(default=8480, ge=1, le=65535, description="Port of the HTTP ingest endpoint.")
    api_port: int = Field(
        default=8181, ge=1, le=65535, description="Port of the REST API (HTTPS on 127.0.0.1 only)."
    )
    metrics_port: int = Field(
        default=9480,
        ge=0,
        le=65535,
        description="Port of the ingest worker's Prometheus /metrics (127.0.0.1 only, no authentication); 0: off.",
    )
    forward_metrics_port: int = Field(
        default=9481,
        ge=0,
        le=65535,
        description="Port of the forward process's Prometheus /metrics (forwarder lag; 127.0.0.1 only, "
        "no authentication); 0: off.",
    )
    tls_certfile: Path | None = Field(
        default=None, description="PEM certificate (chain) of the ingest endpoint: it then speaks HTTPS."
    )
    tls_keyfile: Path | None = Field(default=None, description="PEM private key of that certificate.")
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
    def metrics_url(self) -> str:
        """The ingest worker's metrics endpoint ("" when off)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else ""

    @property
    def forward_metrics_url(self) -> str:
        """The forward process's metrics endpoint ("" when off)."""
        return f"http://127.0.0.1:{self.forward_metrics_port}/metrics" if self.forward_metrics_port else ""

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None and self.tls_keyfile is not None

    @property
    def prefect_host(self) -> str:
        """Where the local Prefect server listens: `host`, except that TLS keeps it on loopback
        (`prefect server start` cannot speak TLS; its API would carry the auth string in clear)."""
        return self.host if is_loopback(self.host) or not self.tls else "127.0.0.1"

    @property
    def prefect_api_url(self) -> str:
        """Where the local Prefect server's API answers, for a client on this machine."""
        return f"http://{url_host(_local(self.prefect_host))}:{self.prefect_port}/api"

    @property
    def ingest_url(self) -> str:
        """Where the ingest endpoint answers, for a client on this machine."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{url_host(_local(self.host))}:{self.ingest_port}/ingest"

    @property
    def api_url(self) -> str:
        """Where the REST API answers: always loopback, always HTTPS (its clients send passwords)."""
        return f"https://127.0.0.1:{self.api_port}"

    def exposure(self, *, insecure: bool) -> list[str]:
        """Warnings about what listens beyond this machine; ConfigurationError when it is not allowed."""
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ConfigurationError(
                "set both ALERTFLOW_UP_TLS_CERTFILE and ALERTFLOW_UP_TLS_KEYFILE, or neither"
            )
        for path in (self.tls_certfile, self.tls_keyfile):
            if path is not None and not path.is_file():
                raise ConfigurationError(f"TLS file {path} does not exist")
        if is_loopback(self.host):
            return []
        if self.tls:
            return [
                f"WARNING: the ingest endpoint listens on {self.host}:{self.ingest_port} (HTTPS) for other "
                f"machines; the Prefect UI and API stay on 127.0.0.1:{self.prefect_port} (use an SSH tunnel "
                "or a TLS reverse proxy to reach them)"
            ]
        if insecure:
            return [
                f"WARNING: --insecure: the Prefect UI/API ({self.host}:{self.prefect_port}) and the ingest "
                f"endpoint ({self.host}:{self.ingest_port}) listen for other machines in plain HTTP: the "
                "Prefect auth string and the ingest token cross the network in clear"
            ]
        raise ConfigurationError(
            f"ALERTFLOW_UP_HOST={self.host} is not a loopback address: set ALERTFLOW_UP_TLS_CERTFILE and "
            "ALERTFLOW_UP_TLS_KEYFILE (the ingest endpoint then speaks HTTPS, the Prefect server stays on "
            "127.0.0.1), or pass --insecure to serve plain HTTP to the network"
        )


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (or `localhost`); a name or a wildcard is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _local(host: str) -> str:
    """The address a client on this machine connects to for a listener bound to `host`."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104


def url_host(host: str) -> str:
    """`host` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
