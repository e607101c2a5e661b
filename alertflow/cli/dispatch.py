"""`alertflow dispatch`: run the outbox dispatcher on its own (the ingest worker also runs one)."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from alertflow.cli.common import fail_on, open_engine, prefect_server
from alertmodel.errors import ConfigurationError
from alertmodel.settings import get_settings
from response.dispatcher import DispatcherConfig, run_dispatcher


def dispatch(
    concurrency: int | None = typer.Option(
        None,
        min=1,
        help="Actions performed at once (flow runs created at once) [default: ALERTFLOW_DISPATCH_CONCURRENCY, 4].",
    ),
    max_attempts: int = typer.Option(8, min=1, help="Attempts before a row is marked failed."),
    lease: float = typer.Option(
        30, min=1, help="Seconds a claimed row stays ours if we die (renewed while its action runs)."
    ),
    once: bool = typer.Option(False, "--once", help="Perform what is due now, then exit."),
) -> None:
    """Perform due outbox rows (playbook runs, incidents, notifications) until SIGINT/SIGTERM.

    Playbooks start on `alertflow up`'s Prefect server, or PREFECT_API_URL's.
    """
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = DispatcherConfig(
        concurrency=concurrency or settings.dispatch_concurrency,
        max_attempts=max_attempts,
        lease_s=lease,
        rerun_crashed=settings.rerun_crashed_playbooks,
    )
    engine = open_engine()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        dispatcher = await run_dispatcher(engine, config, stop, until_idle=once)
        typer.echo(
            f"dispatched: {dispatcher.done} done, {dispatcher.failed} failed, {dispatcher.retried} retried"
        )

    with prefect_server(), fail_on(ConfigurationError):
        asyncio.run(main())
