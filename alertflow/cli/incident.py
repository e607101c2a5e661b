"""`alertflow incident …`: open incidents from alerts, move them along, notify, list."""

from __future__ import annotations

import asyncio
import getpass
from datetime import datetime

import typer

from alertflow.cli.common import fail_on, open_engine, prefect_server
from alertmodel.errors import AlertflowError
from response import incidents

app = typer.Typer(help="Incidents opened from alerts.", no_args_is_help=True)

ACTOR = typer.Option(None, "--by", help="Who does it (default: the login name).")


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


@app.command("open")
def open_(
    alert_uuid: str,
    comment: str = typer.Option("", "--comment", "-m"),
    assignee: str | None = typer.Option(None),
    by: str | None = ACTOR,
) -> None:
    """Open an incident for ALERT_UUID (the alert's status becomes `incident`)."""
    with fail_on(AlertflowError):
        incident = incidents.open_incident(
            open_engine(), alert_uuid, actor=_actor(by), comment=comment, assignee=assignee
        )
    typer.echo(f"incident #{incident.id} opened for alert {alert_uuid}")


@app.command("state")
def state(
    incident_id: int,
    to_state: str = typer.Argument(..., help="in_progress, resolved, closed or reopened."),
    comment: str = typer.Option("", "--comment", "-m"),
    by: str | None = ACTOR,
) -> None:
    """Move incident INCIDENT_ID to TO_STATE, recording who, when and why."""
    with fail_on(AlertflowError):
        incident = incidents.change_state(
            open_engine(), incident_id, to_state, actor=_actor(by), comment=comment
        )
    typer.echo(f"incident #{incident.id} is {incident.state}")


@app.command("show")
def show(incident_id: int) -> None:
    """An incident and its history."""
    with fail_on(AlertflowError):
        view = incidents.get_incident(open_engine(), incident_id)
    i = view.incident
    typer.echo(f"#{i.id} {i.state} severity {i.severity} alert {i.alert_uuid} assignee {i.assignee or '-'}")
    typer.echo(f"title: {i.title}")
    for e in view.history:
        typer.echo(f"{e.at.isoformat()}\t{e.actor}\t{e.from_state or '-'} -> {e.to_state}\t{e.comment}")


@app.command("list")
def list_(
    state: str | None = typer.Option(None),
    min_severity: int | None = typer.Option(None, min=0, max=3),
    assignee: str | None = typer.Option(None),
    since: datetime | None = typer.Option(None, help="Created at or after (UTC, ISO 8601)."),
    limit: int = typer.Option(100, min=1),
) -> None:
    """Incidents, newest first, filtered."""
    from datetime import UTC

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = incidents.list_incidents(
        open_engine(), state=state, min_severity=min_severity, assignee=assignee, since=since, limit=limit
    )
    for i in rows:
        typer.echo(f"#{i.id}\t{i.state}\t{i.severity}\t{i.created_at.isoformat()}\t{i.alert_uuid}\t{i.title}")


@app.command("notify")
def notify(
    incident_id: int,
    group: str = typer.Option(..., "--group", "-g", help="User group to notify."),
    via: str = typer.Option("email", help="email, slack or twilio."),
    block: str = typer.Option("default", help="SMTP server block name."),
    by: str | None = ACTOR,
) -> None:
    """Notify a user group about an incident by hand (recorded in its history)."""
    from response.notify import notify_group  # loads Prefect blocks: only for this command

    with fail_on(AlertflowError):
        sent = asyncio.run(
            notify_group(open_engine(), incident_id, group, via=via, actor=_actor(by), block=block)
        )
    typer.echo(f"notified {', '.join(sent)}")


@app.command("escalate")
def escalate(
    incident_id: int,
    to: str = typer.Option(..., "--to", help="jira or thehive."),
    block: str = typer.Option("default", help="JIRA site or TheHive server block name."),
    project: str | None = typer.Option(None, help="JIRA project key (default: the block's)."),
    by: str | None = ACTOR,
) -> None:
    """Send an incident to JIRA or TheHive by hand, once: a second send prints the stored key."""
    from response.escalate import escalate_incident  # loads Prefect blocks: only for this command

    with prefect_server(), fail_on(AlertflowError):
        key, sent = asyncio.run(
            escalate_incident(open_engine(), incident_id, to, block=block, actor=_actor(by), project=project)
        )
    typer.echo(f"incident #{incident_id}: {to} {key}" + ("" if sent else " (sent before)"))
