"""Helpers every command module uses: the engine of the configured store, clean error exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy import Engine

from alertmodel.engine import make_engine
from alertmodel.settings import get_settings


def open_engine() -> Engine:
    """An engine on ALERTFLOW_DATABASE_URL (or the embedded SQLite file)."""
    return make_engine(get_settings().resolved_database_url)


@contextmanager
def fail_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn the expected errors into one line on stderr and exit status 1, without a traceback."""
    try:
        yield
    except errors as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
