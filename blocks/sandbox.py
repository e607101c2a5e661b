"""A malware-analysis sandbox: Cuckoo, Hybrid Analysis (Falcon Sandbox v2) or VMRay."""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class SandboxService(Block):
    """A sandbox that analyses submitted files; `backend` says which product and API it speaks."""

    _block_type_name = "alertflow Sandbox Service"
    _description = (
        "File-analysis sandbox (Cuckoo, Hybrid Analysis v2 or VMRay) that playbooks submit samples to."
    )

    backend: Literal["cuckoo", "hybrid_analysis", "vmray"] = Field(
        description="Which sandbox product this is: cuckoo (REST API), hybrid_analysis (API v2) or vmray (REST)."
    )
    url: str = Field(
        description="API base URL: http://cuckoo:8090, https://www.hybrid-analysis.com, https://cloud.vmray.com."
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key (Cuckoo: the API bearer token, empty when the API has none)."
    )
    report_url: str | None = Field(
        default=None,
        description="Web UI base for report links, when not the API URL (e.g. http://cuckoo:8000 for Cuckoo).",
    )
    environment_id: int = Field(
        default=160,
        description="Hybrid Analysis environment (160 = Windows 10 64-bit); ignored by the others.",
    )
    verify_tls: bool = Field(default=True, description="Verify the sandbox's TLS certificate.")
    request_timeout_s: float = Field(default=60.0, gt=0, description="Seconds to wait for each API answer.")
    analysis_timeout_s: float = Field(
        default=1800.0, gt=0, description="Seconds to wait for an analysis to finish before giving up."
    )
    poll_interval_s: float = Field(default=10.0, gt=0, description="First wait between status polls.")
    max_poll_interval_s: float = Field(
        default=120.0, gt=0, description="Longest wait between status polls (the wait doubles up to it)."
    )
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx and refused connections.")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest Retry-After wait honoured before giving up."
    )
