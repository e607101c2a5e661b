"""`alertflow policy …`: check filter policy files."""

from __future__ import annotations

import getpass
from pathlib import Path

import orjson
import typer

from alertflow.api import audit
from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError
from alertmodel.settings import get_settings
from ingest.policy import SECTIONS, load_policy
from ingest.policy_source import active_version, add_version

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


@app.command("load")
def load(
    file: Path = typer.Argument(..., help="Policy file (Alertflex filters.json format)."),
    node: str = typer.Option(None, "--node", help="Collector node; default ALERTFLOW_NODE."),
) -> None:
    """Store FILE as the node's next policy version and activate it; running workers switch to it."""
    node = node or get_settings().node
    try:
        load_policy(file)
        body = orjson.loads(file.read_bytes())
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    engine = make_engine(get_settings().resolved_database_url)
    try:
        with engine.begin() as conn:
            before = active_version(conn, node)
            version = add_version(conn, node, body, activate=True)
            audit.record(  # the API's rollback reads activations from here
                conn,
                actor=f"cli:{getpass.getuser()}",
                action="filter_policy.upload",
                target=f"filter-policy/{node}",
                before={"active_version": before},
                after={"active_version": version, "version": version, "body": body},
            )
    finally:
        engine.dispose()
    typer.echo(f"{file}: stored as version {version} of node {node!r}, now active")
