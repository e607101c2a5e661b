"""`alertflow policy …`: check filter policy files."""

from __future__ import annotations

from pathlib import Path

import typer

from alertmodel.errors import ConfigurationError
from ingest.policy import SECTIONS, load_policy

app = typer.Typer(
    help="Check and manage filter policies (Alertflex filters.json format).", no_args_is_help=True
)


@app.command("validate")
def validate(file: Path = typer.Argument(..., help="Policy file to check.")) -> None:
    """Check FILE; print a one-line summary, or every problem (JSON path and what was expected) and exit 1."""
    try:
        policy = load_policy(file)
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    entries = ", ".join(f"{name} {len(getattr(policy.sources, name).gray_list)}" for name in SECTIONS)
    typer.echo(f"{file}: valid policy {policy.filter_name!r} (gray-list entries: {entries})")
