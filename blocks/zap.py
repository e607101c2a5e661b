"""An OWASP ZAP daemon that scans web applications for playbooks."""

from __future__ import annotations

from urllib.parse import urlsplit

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, field_validator


class ZapScanner(Block):
    """A running ZAP daemon (zap.sh -daemon), reached through its proxy port as zapv2 does."""

    _block_type_name = "alertflow ZAP Scanner"
    _description = "OWASP ZAP daemon for spider + active scans of web applications."

    proxy_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Address of the ZAP daemon's proxy port, which serves its API.",
    )
    api_key: SecretStr = Field(description="ZAP API key (api.key option of the daemon).")
    target_prefixes: list[str] = Field(
        default_factory=list,
        description="The web applications scans may target, as URL prefixes such as "
        "'https://shop.example.org/' (scheme, host and port must match, the path start with "
        "the prefix's). Empty (the default): no scan at all, so no alert can aim ZAP anywhere.",
    )
    request_timeout_s: float = Field(
        default=60.0, gt=0, description="Seconds to wait for each ZAP API answer."
    )
    poll_interval_s: float = Field(default=5.0, gt=0, description="Seconds between progress polls.")
    spider_timeout_s: float = Field(
        default=1800.0, gt=0, description="Longest spider run before it is stopped."
    )
    active_scan_timeout_s: float = Field(
        default=7200.0, gt=0, description="Longest active scan before it is stopped."
    )
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx and refused connections.")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest Retry-After wait honoured before giving up."
    )

    @field_validator("target_prefixes")
    @classmethod
    def _web_urls(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            parts = urlsplit(prefix)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
                raise ValueError(
                    f"target_prefixes entry {prefix!r} must be an http(s) URL like https://app.example.org/"
                )
        return prefixes
