"""A playbook's report as a Prefect markdown artifact: a title, a summary and a table of facts."""

from __future__ import annotations

import re
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_MAX_CELL = 500


def escape_markdown(value: Any) -> str:
    """`value` as inert markdown text: every markdown and HTML special character escaped, one line."""
    text = " ".join(str(value).split())[:_MAX_CELL]
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return "".join(_HTML_SPECIAL.get(char, char) for char in text)


def report_markdown(title: str, facts: dict[str, Any], summary: str = "") -> str:
    """The report's markdown; alert values arrive in `facts` and are escaped, never interpreted."""
    lines = [f"# {escape_markdown(title)}", ""]
    if summary:
        lines += [escape_markdown(summary), ""]
    lines += ["| fact | value |", "|---|---|"]
    lines += [f"| {escape_markdown(key)} | {escape_markdown(value)} |" for key, value in facts.items()]
    return "\n".join(lines)


@task(name="write-report")
async def write_report(title: str, facts: dict[str, Any], summary: str = "", key: str | None = None) -> str:
    """Publish the report as a markdown artifact of the run; returns the artifact's id."""
    if key is not None and not re.fullmatch(r"[a-z0-9-]{1,100}", key):
        raise ValueError(f"key must be lowercase letters, digits and '-', not {key[:100]!r}")
    artifact_id = await create_markdown_artifact(
        key=key, markdown=report_markdown(title, facts, summary), description=escape_markdown(title)
    )
    return str(artifact_id)
