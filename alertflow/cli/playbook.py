"""`alertflow playbook validate|run`: linear YAML playbooks from the command line."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import typer
import yaml

from alertflow.cli.common import prefect_server
from alertmodel.errors import ConfigurationError

app = typer.Typer(help="Validate and run linear YAML playbooks.", no_args_is_help=True)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; each value is read as a YAML scalar (5 is an int, [a, b] a list, x a string)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected k=v, got {pair!r}", param_hint="--param")
        try:
            params[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            params[key] = value
    return params


@app.command("validate")
def validate(file: Path = typer.Argument(..., help="The playbook YAML file.")) -> None:
    """Check a playbook: its fields, and that every job type's task exists and takes those parameters."""
    from flows.playbook_spec import load_playbook

    try:
        spec = load_playbook(file)
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"{file}: playbook {spec.name} is valid ({len(spec.jobs)} jobs: {', '.join(j.type for j in spec.jobs)})"
    )


@app.command("run")
def run(
    file: Path = typer.Argument(..., help="The playbook YAML file."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="k=v, repeatable; overrides the playbook's parameters."
    ),
) -> None:
    """Run a playbook now as a flow run on the Prefect server (`alertflow up`'s, or PREFECT_API_URL)."""
    from flows.playbook_spec import load_playbook

    try:
        spec = load_playbook(file)
        params = spec.run_parameters(parse_params(param))
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    with prefect_server():
        from flows.yaml_playbook import yaml_playbook

        state = asyncio.run(yaml_playbook(playbook=spec, params=params, return_state=True))
    if not state.is_completed():
        typer.echo(f"playbook {spec.name}: {state.name}: {state.message or ''}", err=True)
        raise typer.Exit(1)
    result = state.result()
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    for job in result.jobs:
        typer.echo(f"{job.name:<24} {job.type:<20} {job.status}{': ' + job.error if job.error else ''}")
    typer.echo(f"playbook {spec.name}: {result.status}")
