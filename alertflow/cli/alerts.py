"""`alertflow alerts list|show|export`: the API's alert search, view and export, in a terminal.

The command reads the store directly (whoever runs it can read the database anyway), with the
same filters, validation and keyset pages as `GET /api/v1/alerts`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from alertflow.cli.common import open_engine
from alertmodel.errors import describe_validation_error

if TYPE_CHECKING:
    from alertflow.api.accounts import Principal

app = typer.Typer(help="Search stored alerts, show one, export them.", no_args_is_help=True)
T = TypeVar("T", bound=BaseModel)

_COLUMNS = ("time_collr", "severity", "source", "event", "srcip", "dstip", "agent", "status", "description")


_FILTERS: dict[str, tuple[Any, Any]] = {
    "since": (str | None, typer.Option(None, help="time_collr at or after (ISO 8601; naive = UTC).")),
    "until": (str | None, typer.Option(None, help="time_collr before (ISO 8601; naive = UTC).")),
    "source": (str | None, typer.Option(None, help="Suricata, Wazuh, Falco, ModSecurity, ...")),
    "severity": (list[int], typer.Option([], help="Any of these severities (0-3); repeatable.")),
    "min_severity": (int | None, typer.Option(None, help="At least this severity.")),
    "status": (list[str], typer.Option([], help="Any of these statuses; repeatable.")),
    "category": (str | None, typer.Option(None, help="Exact category.")),
    "profile": (str | None, typer.Option(None, help="A categories profile.")),
    "node": (str | None, typer.Option(None)),
    "event": (str | None, typer.Option(None)),
    "agent": (str | None, typer.Option(None)),
    "sensor": (str | None, typer.Option(None)),
    "tenant": (str | None, typer.Option(None, help="Only this ref_id.")),
    "srcip": (str | None, typer.Option(None, help="An address or an IPv4 CIDR.")),
    "dstip": (str | None, typer.Option(None, help="An address or an IPv4 CIDR.")),
    "ip": (str | None, typer.Option(None, help="Source or destination address or IPv4 CIDR.")),
    "port": (int | None, typer.Option(None, help="Source or destination port.")),
    "user": (str | None, typer.Option(None)),
    "file": (str | None, typer.Option(None)),
    "process": (str | None, typer.Option(None)),
    "hash": (str | None, typer.Option(None, help="MD5, SHA-1 or SHA-256 of the alert's file.")),
    "q": (str | None, typer.Option(None, "--text", "-q", help="Text in the description.")),
}
"""The API's alert filters as options, shared by `list` and `export`."""


def _with_filters(command: Callable[..., None]) -> Callable[..., None]:
    """`command` with the filter options added; it receives them as one dict, `filters`."""
    own = [p for p in inspect.signature(command).parameters.values() if p.name != "filters"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=option)
        for name, (kind, option) in _FILTERS.items()
    ]

    @functools.wraps(command)
    def run(**values: Any) -> None:
        filters = {k: values.pop(k) for k in _FILTERS}
        command(filters={k: v for k, v in filters.items() if v is not None and v != []}, **values)

    run.__signature__ = inspect.Signature([*own, *added])  # type: ignore[attr-defined]
    return run


def _validated(model: type[T], values: dict[str, Any]) -> T:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        typer.echo(f"error: {describe_validation_error(exc, 'the filters')}", err=True)
        raise typer.Exit(2) from None


@app.command("list")
@_with_filters
def list_alerts(
    filters: dict[str, Any],
    sort: str = typer.Option("-time_collr", help="-time_collr, time_collr, -severity or severity."),
    limit: int = typer.Option(50, help="Alerts per page (at most 500)."),
    cursor: str | None = typer.Option(None, help="The next-page cursor a previous listing printed."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: items and next_cursor."),
) -> None:
    """Alerts matching every given filter, newest first, one page at a time."""
    from fastapi import HTTPException

    from alertflow.api import alert_queries
    from alertflow.api.alert_schemas import AlertSearch

    page = {"sort": sort, "limit": limit} | ({"cursor": cursor} if cursor else {})
    search = _validated(AlertSearch, filters | page)
    engine = open_engine()
    try:
        with engine.connect() as conn:
            items, next_cursor = alert_queries.search(conn, _operator(), search)
    except HTTPException as exc:
        typer.echo(f"error: {_detail(exc)}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({"items": items, "next_cursor": next_cursor}, default=_json_value))
        return
    table = Table(*_COLUMNS, show_lines=False)
    for item in items:
        table.add_row(*(escape(_text(item[name])) for name in _COLUMNS))
    console = Console()
    console.print(table)
    console.print(f"{len(items)} alert(s)", highlight=False)
    if next_cursor:
        console.print(f"next page: --cursor {next_cursor}", highlight=False, markup=False)


@app.command("export")
@_with_filters
def export(
    filters: dict[str, Any],
    format: str = typer.Option(
        "jsonl",
        "--format",
        "-f",
        help="jsonl (Alertflex records), csv, stix (a STIX 2.1 bundle), ocsf or ecs (JSON lines).",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
) -> None:
    """Every alert matching the filters, oldest stored first, streamed (constant memory)."""
    from fastapi import HTTPException

    from alertflow.api import alert_export
    from alertflow.api.alert_schemas import AlertExport

    chosen = _validated(AlertExport, filters | {"format": format})
    _, write = alert_export.FORMATS[chosen.format]
    engine = open_engine()
    try:
        clauses = alert_export.matching(engine, _operator(), chosen)
        total = alert_export.count(engine, clauses)
        sink = out.open("wb") if out is not None else sys.stdout.buffer
        try:
            with Progress(
                console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()
            ) as bar:
                task = bar.add_task("exporting", total=total)
                for chunk in write(_counted(alert_export.rows(engine, clauses), bar, task)):
                    sink.write(chunk)
        finally:
            if out is not None:
                sink.close()
            else:
                sink.flush()
    except HTTPException as exc:
        typer.echo(f"error: {_detail(exc)}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(f"exported {total} alert(s) as {chosen.format}", err=True)


def _counted(rows: Iterator[dict[str, Any]], bar: Progress, task: TaskID) -> Iterator[dict[str, Any]]:
    for n, row in enumerate(rows, 1):
        yield row
        if n % 1000 == 0:
            bar.update(task, completed=n)


@app.command("show")
def show(
    alert_uuid: str = typer.Argument(..., help="The alert's alert_uuid."),
    as_json: bool = typer.Option(False, "--json", help="The alert as JSON (json_event parsed)."),
) -> None:
    """Every field of one alert, and its raw event."""
    from alertflow.api import alert_queries

    engine = open_engine()
    try:
        with engine.connect() as conn:
            row = alert_queries.one_alert(conn, _operator(), alert_uuid)
    finally:
        engine.dispose()
    if row is None:
        typer.echo(f"error: no alert {alert_uuid!r}", err=True)
        raise typer.Exit(1)
    row.pop("alert_id", None)
    with contextlib.suppress(TypeError, ValueError):
        row["json_event"] = json.loads(row["json_event"])
    if as_json:
        typer.echo(json.dumps(row, default=_json_value, indent=2))
        return
    table = Table("field", "value", show_header=False)
    for name, value in row.items():
        if name != "json_event":
            table.add_row(escape(name), escape(_text(value)))
    console = Console()
    console.print(table)
    console.print("json_event:", highlight=False)
    console.print(json.dumps(row["json_event"], indent=2, default=_json_value), markup=False, highlight=False)


def _operator() -> Principal:
    """The machine's operator: every tenant, read only (the command never writes)."""
    from alertflow.api.accounts import Principal

    return Principal(name="operator", role="viewer", tenants=())


def _detail(exc: Exception) -> str:
    detail = getattr(exc, "detail", str(exc))
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(map(str, d['loc'][1:]))}: {d['msg']}" for d in detail)
    return str(detail)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
