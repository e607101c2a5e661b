"""`alertflow ingest` (the long-running worker) and `alertflow ingest-file` (a one-shot import)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from sqlalchemy import Engine

from alertflow.cli.common import MetricsEndpoint, prefect_server
from alertmodel import archive, migrate
from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError
from alertmodel.ingest_token import MAKE_INGEST_TOKEN
from alertmodel.metrics import REGISTRY, DatabaseGauges
from alertmodel.retention import RetentionThread
from alertmodel.settings import Settings, get_settings, mask_url
from ingest.checkpoint import load_position
from ingest.core import IngestCore
from ingest.ioc import IocEnricher
from ingest.metrics import IngestMetrics, QueueDepths
from ingest.policy import load_policy
from ingest.policy_source import DatabasePolicy, FilePolicy
from ingest.sources.file import FileSource, checkpoint_key
from ingest.sources.http_limits import HttpLimits
from ingest.store import StoredSizes
from ingest.worker import Enricher, PolicyProvider, Source, Worker, WorkerStats
from response.dispatcher import DispatcherConfig, DispatcherThread
from response.outbox_writer import ResponseHook

log = logging.getLogger("alertflow.ingest")

SOURCE_HELP = "file:PATH | stomp://HOST:PORT/queue/NAME | http(s)://HOST:PORT (repeatable)"
NO_DISPATCH_HINT = "; or pass --no-dispatch to leave response actions in the outbox for `alertflow dispatch`"


def register(app: typer.Typer) -> None:
    """Add `ingest` and `ingest-file` to the root command."""
    app.command("ingest")(ingest)
    app.command("ingest-file")(ingest_file)


def ingest(
    source: list[str] = typer.Option(..., "--source", "-s", help=SOURCE_HELP),
    node: str = typer.Option(
        None, help="Collector node (its active policy applies); default ALERTFLOW_NODE."
    ),
    policy: Path = typer.Option(
        None, help="Policy file instead of the node's active version in the database."
    ),
    batch_size: int = typer.Option(1000, min=1, help="Events per transaction at most."),
    batch_wait: float = typer.Option(
        0.25, min=0.0, help="Seconds a batch may wait to fill up while the previous one is being stored."
    ),
    prefetch: int = typer.Option(1000, min=1, help="Unacknowledged STOMP messages per queue at most."),
    max_body_bytes: int = typer.Option(
        10 * 1024 * 1024, min=1, help="Largest HTTP body accepted (413 beyond)."
    ),
    max_connections: int = typer.Option(
        64, min=1, help="Open HTTP connections at most; more are answered 503 and closed."
    ),
    max_requests: int = typer.Option(
        16, min=1, help="HTTP requests being read or stored at once; more are answered 503 with Retry-After."
    ),
    read_timeout: float = typer.Option(
        10.0, min=0.1, help="Seconds an HTTP client may pause while sending headers or a body (then closed)."
    ),
    misp_block: str = typer.Option(
        None, help="Check IPs, domains and file hashes against this MISP block (IOC alerts, source MISP)."
    ),
    ioc_severity: int = typer.Option(
        2, min=0, max=3, help="Severity of MISP IOC alerts (0 Info .. 3 Critical)."
    ),
    dispatch: bool = typer.Option(
        True, help="Also run the outbox dispatcher (playbooks, incidents, notifications) in this process."
    ),
    tls_certfile: Path = typer.Option(None, help="PEM certificate of an https:// source."),
    tls_keyfile: Path = typer.Option(None, help="PEM private key of that certificate."),
    prune_every: float = typer.Option(
        0,
        min=0,
        help="Also apply the retention settings (ALERTFLOW_RETAIN_*) every this many seconds, in small "
        "batches; 0 (default) leaves it to `alertflow db prune`.",
    ),
    metrics_port: int = typer.Option(
        None,
        min=0,
        max=65535,
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (no authentication: keep it on loopback).",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", help="Address the metrics endpoint listens on (only with --metrics-port)."
    ),
) -> None:
    """Run the ingest worker until Ctrl-C / SIGTERM, then store and ack what is in flight and exit."""
    settings = _settings()
    _configure_logging(settings)
    engine = _engine(settings)
    http_limits = HttpLimits(
        max_body_bytes=max_body_bytes,
        max_connections=max_connections,
        max_requests=max_requests,
        header_timeout_s=read_timeout,
        read_timeout_s=read_timeout,
        part_lines=batch_size,
    )
    try:
        tls = (tls_certfile, tls_keyfile) if tls_certfile and tls_keyfile else None
        sources = [_build_source(spec, engine, settings, prefetch, http_limits, tls) for spec in source]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--source") from None
    # The dispatcher starts playbooks and a MISP block is loaded from Prefect: both need the server.
    with prefect_server(NO_DISPATCH_HINT) if dispatch or misp_block else contextlib.nullcontext():
        enrichers = _enrichers(misp_block, node or settings.node, ioc_severity)
        dispatcher = (
            DispatcherThread(
                engine,
                DispatcherConfig(
                    concurrency=settings.dispatch_concurrency, rerun_crashed=settings.rerun_crashed_playbooks
                ),
            )
            if dispatch
            else None
        )
        worker = _worker(
            engine,
            settings,
            node,
            policy,
            sources,
            batch_size,
            batch_wait,
            enrichers=enrichers,
            batch_hooks=[ResponseHook()],
            on_commit=dispatcher.wake if dispatcher is not None else None,
            metrics=IngestMetrics.of(REGISTRY) if metrics_port is not None else None,
        )
        _stop_on_signals(worker)
        metrics_server = (
            _serve_metrics(worker, engine, metrics_host, metrics_port) if metrics_port is not None else None
        )
        retention = RetentionThread(engine, settings.retention(), prune_every) if prune_every else None
        if dispatcher is not None:
            dispatcher.start()
        if retention is not None:
            retention.start()
        worker.start()
        last_report = time.monotonic()
        while not worker.wait(0.5):
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                log.info("%s", _summary_line(worker.stats))
        log.info("stopped: %s", _summary_line(worker.stats))
        if metrics_server is not None:
            metrics_server.stop()
        if retention is not None:
            retention.stop()
        if dispatcher is not None:
            dispatcher.stop()
        engine.dispose()
    if worker.stats.abandoned:
        raise typer.Exit(1)


def ingest_file(
    paths: list[Path] = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="JSON-lines files, or alert archive files (alerts-*.jsonl.gz), stored again as they were.",
    ),
    node: str = typer.Option(
        None, help="Collector node (its active policy applies); default ALERTFLOW_NODE."
    ),
    policy: Path = typer.Option(
        None, help="Policy file instead of the node's active version in the database."
    ),
    source: str = typer.Option("auto", help="auto | wazuh | suricata | falco | modsecurity | generic"),
    batch_size: int = typer.Option(1000, min=1, help="Events per transaction at most."),
    misp_block: str = typer.Option(
        None, help="Check IPs, domains and file hashes against this MISP block (IOC alerts, source MISP)."
    ),
    ioc_severity: int = typer.Option(
        2, min=0, max=3, help="Severity of MISP IOC alerts (0 Info .. 3 Critical)."
    ),
    respond: bool = typer.Option(
        False, help="Apply response profiles to the imported alerts (`alertflow dispatch` performs them)."
    ),
) -> None:
    """Import files once (already-stored events are skipped), with a progress bar and a summary."""
    settings = _settings()
    _configure_logging(settings)
    engine = _engine(settings)
    archives = [p for p in paths if archive.is_archive(p)]
    paths = [p for p in paths if p not in archives]
    if archives:
        _restore_archives(engine, archives, batch_size)
    if not paths:
        engine.dispose()
        return
    with prefect_server() if misp_block else contextlib.nullcontext():
        enrichers = _enrichers(misp_block, node or settings.node, ioc_severity)
    sources: list[Source] = [FileSource(p, follow=False, source=source, max_lines=batch_size) for p in paths]
    total = sum(p.stat().st_size for p in paths)
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("importing", total=total)

        def advance(stats: WorkerStats) -> None:
            progress.update(task, completed=min(stats.bytes_committed, total))

        hooks = [ResponseHook()] if respond else []
        worker = _worker(
            engine,
            settings,
            node,
            policy,
            sources,
            batch_size,
            0.05,
            on_commit=advance,
            enrichers=enrichers,
            batch_hooks=hooks,
        )
        _stop_on_signals(worker)
        worker.start()
        while not worker.wait(0.2):
            pass
    engine.dispose()
    stats = worker.stats
    c = stats.counts
    rows = [
        ("read", c["read"]),
        ("emitted", c["emitted"]),
        ("stored", stats.stored),
        ("already stored", stats.duplicates),
        ("dropped by threshold", c["dropped_threshold"]),
        ("dropped by home_net", c["dropped_home_net"]),
        ("dropped by white list", c["dropped_white_list"]),
        ("dropped by suppress", c["dropped_suppress"]),
        ("modified", c["modified"]),
        ("aggregated", c["aggregated"]),
        ("observations (not alerts)", c["observed"]),
        ("MISP IOC alerts", c["enriched"]),
        ("dead-lettered", stats.dead_lettered),
    ]
    for label, value in rows:
        typer.echo(f"{label:>26}: {value}", err=True)
    if stats.abandoned:
        typer.echo(f"{stats.abandoned} lines were not stored (interrupted); run the import again", err=True)
        raise typer.Exit(1)


class _MetricsServer:
    """The worker's /metrics: the process's metrics endpoint plus the database gauges' thread."""

    def __init__(self, worker: Worker, engine: Engine, host: str, port: int) -> None:
        self.queues = QueueDepths(worker.queue_depths)
        self.database = DatabaseGauges(engine)
        REGISTRY.register(self.queues)
        REGISTRY.register(self.database)
        self.database.start()
        self.endpoint: MetricsEndpoint | None = None
        try:
            self.endpoint = MetricsEndpoint(host, port)
        except typer.Exit:
            self.stop()
            raise
        self.url = self.endpoint.url

    def stop(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
        self.database.stop()
        REGISTRY.unregister(self.queues)
        REGISTRY.unregister(self.database)


def _serve_metrics(worker: Worker, engine: Engine, host: str, port: int) -> _MetricsServer:
    server = _MetricsServer(worker, engine, host, port)
    log.info("metrics at %s", server.url)
    return server


def _restore_archives(engine: Engine, paths: list[Path], batch_size: int) -> None:
    """Store archived alerts again exactly as they were (no policy, no response profiles)."""
    try:
        read, stored = archive.restore(engine, paths, batch_rows=batch_size)
    except ValueError as exc:
        engine.dispose()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{'archived alerts':>26}: {read}", err=True)
    typer.echo(f"{'stored':>26}: {stored}", err=True)
    typer.echo(f"{'already stored':>26}: {read - stored}", err=True)


def _enrichers(misp_block: str | None, node: str, severity: int) -> list[Enricher]:
    """The ingest IOC checks against the MISP block `misp_block` (its database when configured), if named."""
    if not misp_block:
        return []
    from blocks.misp import MispServer
    from tasks.misp import ioc_lookup

    try:
        misp = MispServer.load(misp_block)  # ValueError when the Prefect server has no such block
        return [IocEnricher(ioc_lookup(misp), node=node, severity=severity)]
    except ValueError as exc:
        typer.echo(f"cannot use MISP block {misp_block!r}: {exc}", err=True)
        raise typer.Exit(2) from None


def _worker(
    engine: Engine,
    settings: Settings,
    node: str | None,
    policy: Path | None,
    sources: list[Source],
    batch_size: int,
    batch_wait: float,
    **kwargs: object,
) -> Worker:
    node = node or settings.node
    provider: PolicyProvider
    if policy is not None:
        try:
            load_policy(policy)  # refuse a broken file now, with its errors, rather than in a thread
        except ConfigurationError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        provider = FilePolicy(policy)
    else:
        provider = DatabasePolicy(engine, node)
    return Worker(
        engine,
        IngestCore(node=node),
        sources,
        batch_size=batch_size,
        batch_wait_s=batch_wait,
        policy=provider,
        stored_sizes=StoredSizes(settings.json_event_max_bytes, settings.dead_letter_max_bytes),
        **kwargs,  # type: ignore[arg-type]
    )


def _build_source(
    spec: str,
    engine: Engine,
    settings: Settings,
    prefetch: int,
    http_limits: HttpLimits,
    tls: tuple[Path, Path] | None = None,
) -> Source:
    if spec.startswith("file:"):
        path = Path(spec.removeprefix("file:")).expanduser()
        with engine.connect() as conn:
            position = load_position(conn, checkpoint_key(path))
        return FileSource(path, position=position)
    if spec.startswith("stomp://"):
        # only workers that consume a queue load the client
        from ingest.sources.stomp import StompSource, parse_stomp_url

        host, port, destination = parse_stomp_url(spec)
        return StompSource(host, port, destination, prefetch=prefetch)
    if spec.startswith(("http://", "https://")):
        from ingest.sources.http import HttpSource  # uvicorn and starlette cost ~10 MB of RSS

        parts = urlsplit(spec)
        if not parts.hostname or not parts.port:
            raise ValueError(f"expected http(s)://HOST:PORT, got {spec!r}")
        if settings.ingest_token is None:
            raise ValueError(
                f"the HTTP source needs a bearer token: set ALERTFLOW_INGEST_TOKEN (make one with: {MAKE_INGEST_TOKEN})"
            )
        if (parts.scheme == "https") != (tls is not None):
            raise ValueError(
                "an https:// source needs --tls-certfile and --tls-keyfile (and http:// neither)"
            )
        return HttpSource(
            parts.hostname,
            parts.port,
            token=settings.ingest_token,
            limits=http_limits,
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )
    raise ValueError(f"unknown source {spec!r}; expected {SOURCE_HELP}")


def _settings() -> Settings:
    """The settings, or a clean exit naming what is wrong (e.g. a short ALERTFLOW_INGEST_TOKEN)."""
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"invalid setting {'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def _engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    if migrate.current(url) is None:
        typer.echo(f"{mask_url(url)} has no alertflow schema; run `alertflow db upgrade` first", err=True)
        raise typer.Exit(2)
    return make_engine(url)


def _stop_on_signals(worker: Worker) -> None:
    def stop(signum: int, _frame: object) -> None:
        log.info("%s received: storing what is in flight, then exiting", signal.Signals(signum).name)
        worker.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _summary_line(stats: WorkerStats) -> str:
    return (
        f"{stats.counts['read']} read, {stats.stored} stored, {stats.duplicates} already stored, "
        f"{stats.dead_lettered} dead-lettered, {stats.batches} batches, {stats.write_failures} failed writes"
    )
