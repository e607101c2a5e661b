"""`alertflow profiles …`: import, export and list response profiles."""

from __future__ import annotations

from pathlib import Path

import typer

from alertflow.cli.common import fail_on, open_engine
from alertmodel.errors import ConfigurationError
from response.profiles import dump_profiles, load_profiles_file, read_profiles, store_profiles

app = typer.Typer(help="Response profiles, category profiles and user groups.", no_args_is_help=True)


@app.command("import")
def import_(file: Path = typer.Argument(..., help="Profiles YAML file.")) -> None:
    """Validate FILE and store its profiles (replacing those of the same name) in one transaction."""
    with fail_on(ConfigurationError):
        profiles = load_profiles_file(file)
        engine = open_engine()
        with engine.begin() as conn:
            store_profiles(conn, profiles, origin=str(file))
    typer.echo(
        f"imported {len(profiles.response_profiles)} response profiles, "
        f"{len(profiles.category_profiles)} category profiles, {len(profiles.user_groups)} user groups"
    )


@app.command("export")
def export(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Print every stored profile as YAML that `import` reads back."""
    with open_engine().connect() as conn:
        text = dump_profiles(read_profiles(conn))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@app.command("list")
def list_() -> None:
    """One line per response profile: name, anchor, actions."""
    with open_engine().connect() as conn:
        stored = read_profiles(conn)
    for p in stored.response_profiles:
        m = p.match
        anchor = (
            f"event {m.source}/{m.event}"
            if m.event
            else f"categories {m.category_profile}"
            if m.category_profile
            else "action only"
        )
        extras = []
        if p.rate_limit:
            extras.append(
                f"rate {p.rate_limit.max}/{p.rate_limit.per_seconds}s by {p.rate_limit.key or 'profile'}"
            )
        if p.group:
            extras.append(f"group by {p.group.key} {p.group.window_seconds}s")
        actions = ",".join(a.kind for a in p.actions)
        state = "" if p.enabled else " (disabled)"
        typer.echo(f"{p.name}{state}\t{anchor}\t{actions}\t{'; '.join(extras)}")
