"""JIRA jobs: file an issue for an alert or incident, comment on it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anyio
from jira import JIRA, JIRAError
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from alertmodel.errors import IntegrationError
from blocks.jira import JiraSite
from blocks.run_context import run_logger
from tasks._common import guard_secrets, scrub, service_errors, status_error
from tasks.notify import alert_facts, alert_title

INTEGRATION = "JIRA"


class JiraIssue(BaseModel):
    """An issue in JIRA: its key (SOC-24), id and browse URL."""

    key: str
    id: str
    url: str


class JiraComment(BaseModel):
    """A comment added to an issue."""

    issue_key: str
    id: str


def _secrets(site: JiraSite) -> list[str]:
    token = site.api_token.get_secret_value()
    basic = base64.b64encode(f"{site.username}:{token}".encode()).decode() if site.username else None
    return [s for s in (token, basic) if s]


@contextmanager
def _calls(site: JiraSite, doing: str) -> Iterator[None]:
    secrets = _secrets(site)
    with service_errors(INTEGRATION, secrets):
        try:
            yield
        except JIRAError as exc:
            # str(JIRAError) embeds the request headers, Authorization included: use the parts, drop the chain.
            detail = f"{doing}: {scrub(str(exc.text or ''), secrets)}"
            raise status_error(INTEGRATION, exc.status_code or 400, detail, secrets=secrets) from None


def _client(site: JiraSite) -> JIRA:
    secrets = _secrets(site)
    guard_secrets(*secrets)
    token = site.api_token.get_secret_value()
    auth: dict[str, Any] = {"basic_auth": (site.username, token)} if site.username else {"token_auth": token}
    with _calls(site, "connecting"):
        client = JIRA(
            server=site.url,
            options={"verify": site.verify_tls, "check_update": False},
            timeout=site.timeout_s,
            max_retries=site.max_retries,
            **auth,
        )
    client._session.max_retry_delay = site.max_retry_after_s
    return client


def description_of(alert: Mapping[str, Any]) -> str:
    """An issue description in JIRA wiki markup: the alert's title and its known facts."""
    rows = "\n".join(f"||{label}|{value}|" for label, value in alert_facts(alert))
    return f"h3. {alert_title(alert)}\n\n{rows}\n"


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def create_jira_issue(
    site: JiraSite,
    summary: str,
    description: str,
    severity: int = 2,
    labels: list[str] | None = None,
    project: str | None = None,
) -> JiraIssue:
    """Create a JIRA issue (project, type, summary, description, labels); the priority follows the severity."""

    def create() -> JiraIssue:
        client = _client(site)
        fields = {
            "project": {"key": project or site.project},
            "issuetype": {"name": site.issue_type},
            "summary": summary.replace("\n", " ")[:255],
            "description": description,
            "labels": sorted({*site.labels, *(labels or [])}),
        }
        priority = site.priorities.get(severity)
        if priority:
            fields["priority"] = {"name": priority}
        with _calls(site, f"creating an issue in {fields['project']['key']}"):
            issue = client.create_issue(fields=fields)
        return JiraIssue(key=issue.key, id=str(issue.id), url=f"{site.url.rstrip('/')}/browse/{issue.key}")

    issue = await anyio.to_thread.run_sync(create)
    run_logger().info("JIRA: created %s", issue.key)
    return issue


def alert_label(alert_uuid: str) -> str:
    """The label that marks an alert's issue, `alertflow-<uuid>`: how a retry finds it again.

    The uuid is parsed and written back canonically, so nothing but hex digits and dashes of
    an attacker-influenced field ever reaches a JQL query.
    """
    try:
        return f"alertflow-{uuid.UUID(alert_uuid)}"
    except ValueError:
        raise IntegrationError("the alert's uuid is not a UUID: no JIRA label can carry it") from None


def find_labelled_issue(site: JiraSite, label: str) -> JiraIssue | None:
    """The oldest issue carrying `label`, or None (JQL search: /search/jql on Cloud, /search on Server)."""
    client = _client(site)
    with _calls(site, f"searching for issues labelled {label}"):
        found = client.search_issues(
            f'labels = "{label}" ORDER BY created ASC', maxResults=1, fields=[], json_result=True
        )
    issues = found.get("issues") or []  # type: ignore[union-attr]
    if not issues:
        return None
    key = str(issues[0]["key"])
    return JiraIssue(key=key, id=str(issues[0]["id"]), url=f"{site.url.rstrip('/')}/browse/{key}")


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def file_alert_in_jira(site: JiraSite, alert: dict[str, Any], project: str | None = None) -> JiraIssue:
    """The issue for an alertflow alert, a row of the alert table (a response profile's JIRA action).

    It is looked up by the alert's label first and created only when there is none, so a retry
    after a crash between creating it and storing its key files nothing twice. JIRA Cloud's
    search index can lag a new issue by a few seconds; the outbox retries much later than that.
    """
    label = alert_label(str(alert["alert_uuid"]))
    existing = await anyio.to_thread.run_sync(lambda: find_labelled_issue(site, label))
    if existing is not None:
        run_logger().info("JIRA: %s already filed for alert %s", existing.key, alert["alert_uuid"])
        return existing
    categories = [c.strip().replace(" ", "_") for c in str(alert.get("category", "")).split(",")]
    return await create_jira_issue.fn(
        site,
        alert_title(alert),
        description_of(alert),
        severity=int(alert.get("severity") or 0),
        labels=[*[c for c in categories if c and c != "indef"][:5], label],
        project=project,
    )


@task(cache_policy=NO_CACHE)  # it acts on the world: never answer from a cache
async def add_jira_comment(site: JiraSite, issue_key: str, body: str) -> JiraComment:
    """Add a comment to an issue (e.g. a playbook's outcome)."""

    def comment() -> JiraComment:
        client = _client(site)
        with _calls(site, f"commenting on {issue_key}"):
            added = client.add_comment(issue_key, body)
        return JiraComment(issue_key=issue_key, id=str(added.id))

    added = await anyio.to_thread.run_sync(comment)
    run_logger().info("JIRA: commented on %s", issue_key)
    return added
