"""Helpers every command module uses: the engine of the configured store, the Prefect server,
clean error exits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from sqlalchemy import Engine

from alertflow.up.prefect_address import PrefectAddress, find_prefect_server, use_prefect_server
from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError
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


@contextmanager
def prefect_server(otherwise: str = "") -> Iterator[PrefectAddress]:
    """Talk to `alertflow up`'s Prefect server or PREFECT_API_URL's within the block.

    Without one: the reason and the fix (and `otherwise`, another way out) on stderr, exit status 2,
    and no temporary server.
    """
    try:
        address = find_prefect_server(get_settings())
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}{otherwise}", err=True)
        raise typer.Exit(2) from None
    with use_prefect_server(address):
        yield address


class MetricsEndpoint:
    """This process's Prometheus registry at http://HOST:PORT/metrics (prometheus_client's threaded server).

    No authentication: the callers bind it to 127.0.0.1 unless told otherwise. A port that is
    taken ends the command with exit status 2, naming the address.
    """

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        from alertmodel.metrics import REGISTRY

        try:
            self.server: Any
            self.server, self.thread = start_http_server(port, addr=host, registry=REGISTRY)
        except OSError as exc:
            typer.echo(f"cannot serve metrics on {host}:{port}: {exc}", err=True)
            raise typer.Exit(2) from None
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.server.server_address[1]}/metrics"

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
