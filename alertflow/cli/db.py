"""`alertflow db …`: migrate the alert store."""

from __future__ import annotations

import typer

from alertmodel import migrate
from alertmodel.settings import get_settings, mask_url

app = typer.Typer(help="Create and migrate the alert store.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Apply migrations up to REVISION (default: the newest) on ALERTFLOW_DATABASE_URL."""
    url = get_settings().resolved_database_url
    migrate.upgrade(url, revision)
    typer.echo(f"{mask_url(url)} is at revision {migrate.current(url)}")


@app.command("downgrade")
def downgrade(
    revision: str = typer.Argument(..., help="Alembic revision to go down to, e.g. -1 or base."),
) -> None:
    """Revert migrations down to REVISION."""
    url = get_settings().resolved_database_url
    migrate.downgrade(url, revision)
    typer.echo(f"{mask_url(url)} is at revision {migrate.current(url) or 'base'}")


@app.command("current")
def current() -> None:
    """Print the revision the alert store is at."""
    typer.echo(migrate.current(get_settings().resolved_database_url) or "base")
