"""`alertflow up`: run everything on this machine until Ctrl-C."""

from __future__ import annotations

import typer

from alertflow.up.settings import UpSettings
from alertflow.up.supervisor import run
from alertmodel.settings import get_settings


def up(
    prefect_port: int | None = typer.Option(None, help="Port of the local Prefect server [default: 4200]."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Do not serve the Prefect UI."),
    demo: bool = typer.Option(
        False, "--demo", help="Import the demo response profile and post the demo events."
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        help="Allow plain HTTP on a non-loopback ALERTFLOW_UP_HOST (without ALERTFLOW_UP_TLS_*).",
    ),
) -> None:
    """Start the Prefect server, serve all deployments, and run until Ctrl-C or SIGTERM."""
    options = UpSettings()
    if prefect_port is not None:
        options.prefect_port = prefect_port
    if no_ui:
        options.ui = False
    raise typer.Exit(run(get_settings(), options, echo=typer.echo, demo_mode=demo, insecure=insecure))
