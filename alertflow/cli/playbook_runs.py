"""`alertflow playbook-runs`: the flow runs response profiles started, with their current state."""

from __future__ import annotations

import asyncio

import typer
from sqlalchemy import select

from alertflow.cli.common import fail_on, open_engine, prefect_server
from alertmodel import PlaybookRun
from alertmodel.errors import IntegrationError


def playbook_runs(
    alert: str | None = typer.Option(None, "--alert", help="Only runs of this alert_uuid."),
    refresh: bool = typer.Option(True, help="Ask Prefect for the current state first."),
    limit: int = typer.Option(50, min=1),
) -> None:
    """Playbook runs, newest first: alert, profile, deployment, flow run id, state.

    A run repeated after a crash names the crashed run; a Crashed run not run again needs a human.

    The states are refreshed from `alertflow up`'s Prefect server (or PREFECT_API_URL) unless --no-refresh.
    """
    engine = open_engine()
    if refresh:
        from prefect.client.orchestration import get_client

        from response.playbook_runs import refresh_playbook_runs

        async def refresh_states() -> None:
            async with get_client() as client:
                await refresh_playbook_runs(engine, client, alert_uuid=alert)

        with prefect_server(), fail_on(IntegrationError):
            asyncio.run(refresh_states())
    runs = PlaybookRun.__table__
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if alert is not None:
        query = query.where(runs.c.alert_uuid == alert)
    with engine.connect() as conn:
        for r in conn.execute(query):
            grouped = f"\tgroup of {r.group_lead}" if r.group_lead not in (None, r.alert_uuid) else ""
            repeat = f"\trepeats crashed run {r.rerun_of}" if r.rerun_of else ""
            human = "\tneeds a human (not run again)" if r.state == "CRASHED" else ""
            typer.echo(
                f"{r.alert_uuid}\t{r.profile}\t{r.deployment}\t{r.flow_run_id or '-'}\t{r.state}"
                f"{grouped}{repeat}{human}"
            )
