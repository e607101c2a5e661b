"""A JIRA site where incidents become issues."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class JiraSite(Block):
    """A JIRA Cloud or Server/Data Center site and the project incidents are filed in."""

    _block_type_name = "alertflow JIRA Site"
    _description = (
        "JIRA site (Cloud: e-mail + API token; Server/DC: personal access token) for incident issues."
    )

    url: str = Field(description="Base URL of JIRA, e.g. https://example.atlassian.net.")
    username: str | None = Field(
        default=None,
        description="Account e-mail for JIRA Cloud (basic auth with the API token); leave empty to send "
        "the token as a Server/Data Center personal access token.",
    )
    api_token: SecretStr = Field(description="JIRA Cloud API token, or a Server/DC personal access token.")
    project: str = Field(description="Key of the project issues are created in, e.g. SOC.")
    issue_type: str = Field(
        default="Task", description="Issue type name for new issues (Task, Bug, Incident...)."
    )
    labels: list[str] = Field(
        default_factory=lambda: ["alertflow"], description="Labels put on every new issue."
    )
    priorities: dict[int, str] = Field(
        default_factory=lambda: {0: "Low", 1: "Medium", 2: "High", 3: "Highest"},
        description="JIRA priority name for each alertflow severity (0 Info .. 3 Critical).",
    )
    verify_tls: bool = Field(
        default=True, description="Verify JIRA's TLS certificate (turn off only for labs)."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Seconds to wait for each JIRA answer.")
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/503 (JIRA's own retry policy).")
    max_retry_after_s: float = Field(
        default=60.0, gt=0, description="Longest wait between retries, whatever Retry-After says."
    )
