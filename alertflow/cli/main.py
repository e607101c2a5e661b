"""The root `alertflow` command; each command group lives in its own module and is added here.

No command module imports Prefect at import time: each imports it in the function that talks
to Prefect, so `alertflow up` (the supervisor) and the ingest worker never load it.
"""

from __future__ import annotations

import os

import typer

from alertflow import __version__
from alertflow.cli import (
    alerts,
    api,
    blocks,
    cluster,
    config,
    db,
    dead_letters,
    dispatch,
    forward,
    incident,
    ingest,
    outbox,
    playbook,
    playbook_runs,
    policy,
    posture,
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
app.add_typer(dead_letters.app, name="dead-letters")
app.add_typer(incident.app, name="incident")
app.command("dispatch")(dispatch.dispatch)
app.command("forward")(forward.forward)
app.command("playbook-runs")(playbook_runs.playbook_runs)
app.add_typer(policy.app, name="policy")
app.command("replay")(replay.replay)
ingest.register(app)
app.add_typer(blocks.app, name="blocks")
app.command("api")(api.api)
app.add_typer(users.app, name="users")
app.add_typer(alerts.app, name="alerts")
app.add_typer(posture.app, name="posture")
app.add_typer(cluster.app, name="cluster")


@app.command()
def version() -> None:
    """Print the alertflow version."""
    typer.echo(__version__)


# Set before Prefect is imported, inherited by every child: no telemetry, and never a
# throw-away ("ephemeral") Prefect server started by a client that found no API URL.
PREFECT_ENV_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "false",
}


def main() -> None:
    """Console-script entry point."""
    for name, value in PREFECT_ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Every file and directory alertflow or its children create is private: the data dir holds
    # secrets (the Prefect database keeps the key to every block secret), logs and alerts.
    os.umask(0o077)
    app()
