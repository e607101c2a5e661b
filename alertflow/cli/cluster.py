"""`alertflow cluster up|down|status`: the scale-out topology on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from alertflow.cluster.settings import ENV_FILE, load
from alertflow.cluster.topology import Cluster
from alertmodel.settings import get_settings

app = typer.Typer(
    no_args_is_help=True, help="The scale-out topology (docker-compose.yml's shape) on this machine."
)

ENV_FILE_OPTION = typer.Option(
    ENV_FILE, "--env-file", exists=True, dir_okay=False, help="Settings file shared with docker-compose.yml."
)


def _cluster(env_file: Path) -> Cluster:
    return Cluster(get_settings(), load(env_file), env_file, echo=typer.echo)


@app.command("up")
def up(env_file: Path = ENV_FILE_OPTION) -> None:
    """Start every part that is not running and wait until all are healthy."""
    cluster = _cluster(env_file)
    cluster.up()
    for state in cluster.status():
        typer.echo(f"{state['name']:<18} {state['where']}")
    typer.echo(
        f"Prefect API auth: {cluster.data_dir / 'prefect-auth'}; API admin password: {cluster.data_dir / 'api-admin'}"
    )
    typer.echo(f"alertflow cluster is up (logs in {cluster.log_dir})")


@app.command("down")
def down(env_file: Path = ENV_FILE_OPTION) -> None:
    """Stop every part (last started first)."""
    stopped = _cluster(env_file).down()
    typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("status")
def status(
    env_file: Path = ENV_FILE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per part."),
) -> None:
    """Each part: pid alive and its health endpoint answering. Exit 1 when one is not healthy."""
    states = _cluster(env_file).status()
    for state in states:
        if as_json:
            typer.echo(json.dumps(state))
        else:
            health = "healthy" if state["healthy"] else ("UNHEALTHY" if state["pid"] else "DOWN")
            typer.echo(
                f"{state['name']:<18} {health:<9} pid {state['pid'] or '-':<8} {state['where']}  {state['log']}"
            )
    raise typer.Exit(0 if all(s["healthy"] for s in states) else 1)
