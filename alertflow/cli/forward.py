"""`alertflow forward`: send stored alerts to the configured forwarders (GELF, Elasticsearch/OpenSearch, syslog).

Forwarders are blocks (`alertflow blocks register`, then create them in the Prefect UI); each
keeps a cursor in the alert store, so a restart goes on where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

import typer

from alertflow.cli.common import MetricsEndpoint, fail_on, open_engine, prefect_server
from alertmodel.errors import AlertflowError, ConfigurationError, IntegrationError
from alertmodel.settings import get_settings

FORWARD_NICE = 10
"""How much `alertflow forward` lowers its CPU priority by default (render processes inherit it)."""


async def _saved_forwarders(only: list[str]) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    from blocks.forwarders import FORWARDER_TYPES

    found: dict[str, Any] = {}
    async with get_client() as client:
        for block_type in FORWARDER_TYPES:
            try:
                documents = await client.read_block_documents_by_type(
                    block_type.get_block_type_slug(), include_secrets=True
                )
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code == 404:  # a block type not registered yet has no blocks
                    continue
                raise
            for document in documents:
                if document.is_anonymous or (only and document.name not in only):
                    continue
                if document.name in found:
                    raise ConfigurationError(
                        f"two forwarder blocks are named {document.name!r}; rename one (a name keys its cursor)"
                    )
                found[document.name] = block_type._from_block_document(document)
    missing = sorted(set(only) - set(found))
    if missing:
        raise ConfigurationError(
            f"no forwarder block named {', '.join(missing)}; create it in the Prefect UI "
            "after `alertflow blocks register`"
        )
    return found


def load_forwarders(only: list[str]) -> dict[str, Any]:
    """The saved forwarder blocks by name (only those in `only`, when given)."""
    try:
        return asyncio.run(_saved_forwarders(only))
    except AlertflowError:
        raise
    except Exception as exc:
        raise IntegrationError(f"Prefect server: could not read the forwarder blocks: {exc}") from exc


def forward(
    forwarder: list[str] = typer.Option(
        None, "--forwarder", "-f", help="Forwarder block name (repeatable); default: every forwarder."
    ),
    once: bool = typer.Option(False, "--once", help="Send what is stored now, then exit."),
    poll: float = typer.Option(1.0, min=0.01, help="Seconds between looks for new alerts when caught up."),
    max_backoff: float = typer.Option(
        30.0, min=0.1, help="Longest wait between tries of a receiver that is down."
    ),
    reload: float = typer.Option(30.0, min=0.1, help="Seconds between reloads of the forwarder blocks."),
    render_processes: int = typer.Option(
        2,
        min=0,
        max=16,
        help="Processes per forwarder that read and encode the next batches while one is sent "
        "(0: one thread of this process).",
    ),
    nice: int = typer.Option(
        FORWARD_NICE,
        min=0,
        max=19,
        help="Raise this process's (and its render processes') nice value by this much: forwarding "
        "is background work, ingest gets the CPU first.",
    ),
    metrics_port: int = typer.Option(
        None,
        min=0,
        max=65535,
        help="Serve Prometheus metrics (forwarder lag) at http://HOST:PORT/metrics "
        "(no authentication: keep it on loopback).",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", help="Address the metrics endpoint listens on (only with --metrics-port)."
    ),
) -> None:
    """Forward stored alerts to Graylog (GELF), Elasticsearch/OpenSearch and syslog until SIGINT/SIGTERM."""
    from tasks.forward.loop import ForwardLoop, ForwardSupervisor

    logging.basicConfig(
        level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    only = list(forwarder or [])
    os.nice(nice)
    engine = open_engine()
    with prefect_server(), fail_on(ConfigurationError, IntegrationError):
        if once:
            for name, block in load_forwarders(only).items():
                loop = ForwardLoop(engine, name, block, processes=render_processes)
                try:
                    loop.drain()
                finally:
                    loop.close()
                typer.echo(f"{name}: {loop.stats.sent} sent, {loop.stats.refused} dead-lettered")
            return
        load_forwarders(only)  # fail fast on a name that does not exist
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        endpoint = MetricsEndpoint(metrics_host, metrics_port) if metrics_port is not None else None
        if endpoint is not None:
            logging.getLogger("alertflow.forward").info("metrics at %s", endpoint.url)
        supervisor = ForwardSupervisor(
            engine, lambda: load_forwarders(only), poll, max_backoff, reload, processes=render_processes
        )
        try:
            supervisor.run(stop)
        finally:
            if endpoint is not None:
                endpoint.stop()
