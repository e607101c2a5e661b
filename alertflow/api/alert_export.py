"""Alert exports: every alert matching a search, streamed in a chosen format with constant memory.

Rows are read in alert_id order, a bounded batch at a time (a keyset seek, never OFFSET), and
each format turns one alert into text as it goes, so a million alerts cost what a thousand do.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from alertflow.api import alert_queries
from alertflow.api.accounts import Principal
from alertflow.api.alert_schemas import AlertFilters
from alertflow.api.stix_bundle import bundle
from alertmodel.formats import to_alertflex, to_ecs, to_ocsf

BATCH = 1000
EXPORT_COLUMNS = [col.name for col in alert_queries.ALERTS.columns if col.name != "alert_id"]


def matching(engine: Engine, principal: Principal, search: AlertFilters) -> list[Any]:
    """The WHERE clauses of an export: the search's filters, its profile and the caller's tenants."""
    clauses = [alert_queries.visible(principal), *alert_queries.where(search)]
    if search.profile is not None:
        with engine.connect() as conn:
            clauses.append(alert_queries.in_profile(conn, search.profile))
    return clauses


def count(engine: Engine, clauses: list[Any]) -> int:
    """How many alerts an export will write (for a progress bar)."""
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(alert_queries.ALERTS).where(*clauses)).scalar_one()
        )


def rows(engine: Engine, clauses: list[Any], batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Every matching alert, oldest stored first, one short read per `batch` rows."""
    table = alert_queries.ALERTS
    last = 0
    while True:
        query = select(table).where(*clauses, table.c.alert_id > last).order_by(table.c.alert_id).limit(batch)
        with engine.connect() as conn:
            page = [dict(r._mapping) for r in conn.execute(query)]
        for row in page:
            last = row.pop("alert_id")
            yield row
        if len(page) < batch:
            return


def json_lines(
    render: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[Iterator[dict[str, Any]]], Iterator[bytes]]:
    """A writer of one rendered document per line (an `alertmodel.formats` renderer)."""

    def write(alerts: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        for alert in alerts:
            yield orjson.dumps(render(alert), option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NAIVE_UTC)

    return write


def _csv(alerts: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """RFC 4180 CSV, one row per alert; a cell an attacker starts with = + - @ is quoted as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for alert in alerts:
        writer.writerow([_cell(alert[name]) for name in EXPORT_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    # A spreadsheet runs a cell starting with these as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


FORMATS: dict[str, tuple[str, Callable[[Iterator[dict[str, Any]]], Iterator[bytes]]]] = {
    "jsonl": ("application/x-ndjson", json_lines(to_alertflex)),
    "csv": ("text/csv; charset=utf-8", _csv),
    "stix": ("application/stix+json;version=2.1", bundle),
    "ocsf": ("application/x-ndjson", json_lines(to_ocsf)),
    "ecs": ("application/x-ndjson", json_lines(to_ecs)),
}
"""Format name → (media type, writer of a stream of stored alerts)."""
