"""`alert_digest`: a recurring summary of what the alert store received (the Alertflex daily report)."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select

from alertmodel import Alert
from alertmodel.alert import SEVERITY_NAMES
from alertmodel.engine import make_engine
from alertmodel.settings import get_settings
from alertmodel.types import utcnow


class AlertDigest(BaseModel):
    """Alerts stored in a time window, counted by source and by severity."""

    since: datetime
    until: datetime
    total: int
    by_source: dict[str, int]
    by_severity: dict[str, int]


@task(retries=2, retry_delay_seconds=[1, 5])  # a read-only query: safe to repeat
def count_alerts(database_url: SecretStr, since: datetime, until: datetime) -> AlertDigest:
    """Count the alerts collected in [since, until) by source and by severity."""
    engine = make_engine(database_url.get_secret_value())
    window = (Alert.time_collr >= since) & (Alert.time_collr < until)  # type: ignore[operator]
    try:
        with engine.connect() as conn:
            sources = conn.execute(
                select(Alert.source, func.count()).where(window).group_by(Alert.source)
            ).all()
            severities = conn.execute(
                select(Alert.severity, func.count()).where(window).group_by(Alert.severity)
            ).all()
    finally:
        engine.dispose()
    by_source = {str(source): int(n) for source, n in sources}
    by_severity = {SEVERITY_NAMES.get(int(sev), str(sev)): int(n) for sev, n in severities}
    return AlertDigest(
        since=since, until=until, total=sum(by_source.values()), by_source=by_source, by_severity=by_severity
    )


def render_digest(digest: AlertDigest) -> str:
    """The digest as a markdown table."""
    lines = [
        f"# Alert digest {digest.since:%Y-%m-%d %H:%M} to {digest.until:%Y-%m-%d %H:%M} UTC",
        "",
        f"**{digest.total}** alerts stored.",
        "",
        "| source | alerts |",
        "|---|---|",
        *(f"| {s} | {n} |" for s, n in sorted(digest.by_source.items())),
        "",
        "| severity | alerts |",
        "|---|---|",
        *(f"| {s} | {n} |" for s, n in sorted(digest.by_severity.items())),
    ]
    return "\n".join(lines)


@flow(name="alert-digest", log_prints=False)
def alert_digest(hours: int = 24) -> AlertDigest:
    """Summarize the alerts of the last `hours` hours and publish it as a markdown artifact."""
    if not 1 <= hours <= 24 * 366:
        raise ValueError(f"hours must be between 1 and {24 * 366}, not {hours}")
    until = utcnow()
    digest = count_alerts(
        SecretStr(get_settings().resolved_database_url), until - timedelta(hours=hours), until
    )
    create_markdown_artifact(key="alert-digest", markdown=render_digest(digest), description="alerts stored")
    return digest
