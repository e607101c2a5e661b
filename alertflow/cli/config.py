"""`alertflow config …`: show the effective settings."""

from __future__ import annotations

import typer

from alertmodel.settings import get_settings

app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print every setting as ALERTFLOW_NAME=value (from the environment or defaults), secrets masked."""
    for name, value in get_settings().masked().items():
        typer.echo(f"ALERTFLOW_{name.upper()}={value}")
