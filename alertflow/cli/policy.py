"""`alertflow policy …`: filter policy files."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from alertflow.settings import get_settings
from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError
from ingest.policy import load_policy
from ingest.policy_source import store_policy

app = typer.Typer(help="Validate and deploy Alertflex filter policies (filters.json).", no_args_is_help=True)


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
        raise typer.Exit(2) from None
    engine = make_engine(get_settings().resolved_database_url)
    try:
        version = store_policy(engine, node, body)
    finally:
        engine.dispose()
    typer.echo(f"policy {file} is version {version} of node {node}, now active")
