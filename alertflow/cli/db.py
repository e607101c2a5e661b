"""`alertflow db …`: migrate the alert store, back it up and restore it, show what it holds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from alertflow.cli.common import fail_on, open_engine
from alertmodel import migrate, retention, sqlite_backup
from alertmodel.errors import StorageError
from alertmodel.settings import get_settings, mask_url
from alertmodel.table_stats import table_stats

app = typer.Typer(help="Migrate, back up, restore and measure the alert store.", no_args_is_help=True)


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


@app.command("stats")
def stats(
    exact: bool = typer.Option(
        False, "--exact", help="MariaDB/MySQL: count rows instead of InnoDB's estimate."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per table."),
) -> None:
    """Rows and sizes per table of the alert store, largest first."""
    engine = open_engine()
    try:
        tables = table_stats(engine, exact=exact)
    finally:
        engine.dispose()
    if as_json:
        for t in tables:
            typer.echo(json.dumps({**dataclasses.asdict(t), "total_bytes": t.total_bytes}))
        return
    typer.echo(f"{'table':<18} {'rows':>14} {'data':>10} {'indexes':>10} {'total':>10}")
    for t in tables:
        rows = f"{'~' if t.rows_estimated else ''}{t.rows:,}"
        typer.echo(
            f"{t.name:<18} {rows:>14} {_size(t.data_bytes):>10} {_size(t.index_bytes):>10} {_size(t.total_bytes):>10}"
        )
    database = _sqlite_path(get_settings().resolved_database_url)
    if database is not None:
        wal = database.with_name(database.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        typer.echo(f"file {database}: {_size(database.stat().st_size)}, WAL {_size(wal_size)}")


@app.command("prune")
def prune() -> None:
    """Delete what the retention settings (ALERTFLOW_RETAIN_*) no longer keep, in small batches
    (alerts archived first with ALERTFLOW_ARCHIVE_ALERTS=true)."""
    settings = get_settings()
    engine = open_engine()
    try:
        with fail_on(StorageError):
            deleted = retention.prune(engine, settings.retention())
    finally:
        engine.dispose()
    typer.echo(", ".join(f"{table}: {n} deleted" for table, n in deleted.items()))
    if settings.archive_alerts and deleted["alert"]:
        typer.echo(f"deleted alerts archived in {settings.resolved_archive_dir}")


@app.command("backup")
def backup(path: Path = typer.Argument(..., help="The new file to write.", dir_okay=False)) -> None:
    """Copy the SQLite alert store to PATH while it is in use (MariaDB: see the README)."""
    database = _require_sqlite()
    with fail_on(StorageError):
        sqlite_backup.backup(database, path)
    typer.echo(f"backed up {database} to {path}")


@app.command("restore")
def restore(
    path: Path = typer.Argument(..., help="A file `alertflow db backup` wrote.", exists=True, dir_okay=False),
    force: bool = typer.Option(
        False, "--force", help="Restore although other processes have the store open."
    ),
) -> None:
    """Replace the SQLite alert store's contents with the backup at PATH (stop ingest and dispatch first)."""
    database = _require_sqlite()
    with fail_on(StorageError):
        sqlite_backup.restore(path, database, force=force)
    url = get_settings().resolved_database_url
    typer.echo(
        f"restored {path} into {database}, at revision {migrate.current(url)} (`alertflow db upgrade` brings an older one up to date)"
    )


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def _require_sqlite() -> Path:
    database = _sqlite_path(get_settings().resolved_database_url)
    if database is None:
        typer.echo(
            "error: backup and restore are for the SQLite store; for MariaDB use mariadb-dump "
            "--single-transaction (see the README)",
            err=True,
        )
        raise typer.Exit(1)
    return database


def _size(n: int) -> str:
    size, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
