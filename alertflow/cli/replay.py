"""`alertflow replay FILE...`: run decode → normalize → policy over event files, storing nothing.

An alert archive file (gzip, written by retention) holds stored alerts, not sensor events: its
records are printed as they were stored, each `alert_uuid` once, and no policy applies to them.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import typer

from alertmodel.archive import is_archive, read_archive
from alertmodel.errors import ConfigurationError
from ingest.core import IngestCore
from ingest.detect import SOURCES
from ingest.policy import load_policy

CHUNK_LINES = 5000
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
"""Files at least this big get a progress bar (only when stderr is a terminal)."""
SUMMARY = (
    ("read", "read"),
    ("emitted", "emitted"),
    ("dropped_threshold", "dropped by threshold"),
    ("dropped_home_net", "dropped by home_net"),
    ("dropped_white_list", "dropped by white list"),
    ("dropped_suppress", "dropped by suppress"),
    ("modified", "modified"),
    ("aggregated", "aggregated"),
    ("dead_lettered", "dead-lettered"),
    ("observed", "observations (non-alert events)"),
    ("no_alert", "events without an alert"),
)
ARCHIVE_SUMMARY = (
    ("archived", "archived alerts"),
    ("archived_duplicates", "archived duplicates skipped"),
)


def _chunks(handle: IO[bytes]) -> Iterator[list[bytes]]:
    while chunk := list(itertools.islice(handle, CHUNK_LINES)):
        yield chunk


def _alert_json(alert: dict[str, Any]) -> bytes:
    row = dict(alert)
    row["time_collr"] = alert["time_collr"].isoformat()
    return orjson.dumps(row) + b"\n"


def replay(
    files: list[Path] = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="JSON-lines event files, or alert archive files (alerts-*.jsonl.gz).",
    ),
    source: str = typer.Option("auto", help=f"auto or one of: {', '.join(SOURCES)}."),
    policy: Path | None = typer.Option(None, help="Filter policy (Alertflex filters.json format)."),
    node: str = typer.Option("local", help="Collector node name the alerts are attributed to."),
    out: str = typer.Option("-", help="Where the alerts go, one JSON object per line ('-' = stdout)."),
    dead_letter: Path | None = typer.Option(
        None, help="Write bad lines with their reasons here (JSON lines)."
    ),
) -> None:
    """Print the alerts FILE... would produce under POLICY, and a summary on stderr; nothing is stored."""
    if source != "auto" and source not in SOURCES:
        raise typer.BadParameter(f"expected auto or one of {', '.join(SOURCES)}", param_hint="--source")
    try:
        pol = load_policy(policy) if policy is not None else None
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    core = IngestCore(node=node, policy=pol)
    totals: Counter[str] = Counter()
    with contextlib.ExitStack() as stack:
        sink = sys.stdout.buffer if out == "-" else stack.enter_context(open(out, "wb"))
        dead = stack.enter_context(open(dead_letter, "wb")) if dead_letter else None
        progress = None
        total_bytes = sum(f.stat().st_size for f in files)
        if _stderr_is_terminal() and total_bytes >= PROGRESS_MIN_BYTES:
            from rich.progress import Progress

            progress = stack.enter_context(Progress(transient=True, console=_stderr_console()))
            task = progress.add_task("replaying", total=total_bytes)
        seen: set[str] = set()
        for path in files:
            if is_archive(path):
                try:
                    _replay_archive(path, sink, seen, totals)
                except ValueError as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(2) from None
                if progress is not None:
                    progress.update(task, advance=path.stat().st_size)
                continue
            handle = stack.enter_context(path.open("rb"))
            first = 1
            for chunk in _chunks(handle):
                result = core.process(chunk, source=source, origin=str(path), first_line=first)
                first += len(chunk)
                totals.update(result.counts)
                sink.write(b"".join(_alert_json(a) for a in result.alerts))
                if dead is not None:
                    for item in result.dead_letters:
                        record = {
                            "origin": item.origin,
                            "source": item.source,
                            "reason": item.reason,
                            "raw": item.raw.decode("utf-8", "backslashreplace"),
                        }
                        dead.write(orjson.dumps(record) + b"\n")
                if progress is not None:
                    progress.update(task, advance=sum(map(len, chunk)))
        sink.flush()
    shown = SUMMARY + (ARCHIVE_SUMMARY if totals["archived"] or totals["archived_duplicates"] else ())
    width = max(len(label) for _, label in shown)
    for key, label in shown:
        typer.echo(f"{label:<{width}}  {totals[key]}", err=True)


def _replay_archive(path: Path, sink: IO[bytes], seen: set[str], totals: Counter[str]) -> None:
    """Print an archive's records; a uuid already printed (archived twice) is counted, not repeated."""
    for record in read_archive(path):
        if record["alert_uuid"] in seen:
            totals["archived_duplicates"] += 1
            continue
        seen.add(record["alert_uuid"])
        totals["archived"] += 1
        sink.write(_alert_json(record))


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
