"""The root `alertflow` command; each command group lives in its own module and is added here."""

from __future__ import annotations

import typer

from alertflow import __version__
from alertflow.cli import (
    api,
    blocks,
    config,
    db,
    dispatch,
    incident,
    ingest,
    outbox,
    playbook,
    playbook_runs,
    policy,
    profiles,
    replay,
    users,
)
from alertflow.cli.up import up

app = typer.Typer(
    name="alertflow",
    help="alertflow: IDS alerts in, prioritized alerts, incidents and playbooks out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold secrets
)
app.add_typer(db.app, name="db")
app.add_typer(config.app, name="config")
app.command("up")(up)
app.add_typer(playbook.app, name="playbook")
app.add_typer(profiles.app, name="profiles")
app.add_typer(outbox.app, name="outbox")
app.add_typer(incident.app, name="incident")
app.command("dispatch")(dispatch.dispatch)
app.command("playbook-runs")(playbook_runs.playbook_runs)
app.add_typer(policy.app, name="policy")
app.command("replay")(replay.replay)
ingest.register(app)
app.add_typer(blocks.app, name="blocks")
app.command("api")(api.api)
app.add_typer(users.app, name="users")


@app.command()
def version() -> None:
    """Print the alertflow version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
